/*
 * test_redis.c - ds_redis against a real redis-server that this test starts,
 * kills and restarts on a free port (C18), and against a fake server for
 * the replies a real one only gives while it is starting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ds_redis.h"
#include "ds_runtime.h"

static char redis_bin[4096];   /* empty when redis-server is missing */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Finds redis-server on PATH. */
static int find_redis_server(void)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    char *dir, *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (dir = strtok_r(dirs, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(redis_bin, sizeof(redis_bin), "%s/redis-server", dir);
        if (access(redis_bin, X_OK) == 0)
            return 1;
    }
    redis_bin[0] = '\0';
    return 0;
}

/* A listening socket on 127.0.0.1 and an ephemeral port. */
static int listen_any(int *port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int free_port(void)
{
    int port;

    close(listen_any(&port));
    return port;
}

static int can_connect(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

typedef struct server {
    char dir[64];
    int port;
    pid_t pid;
    const char *password;  /* --requirepass, or NULL for none */
} server;

/* Starts redis-server on s->port after delay_ms, without persistence. With
 * a delay it returns at once; otherwise once the port accepts. */
static void server_start(server *s, long delay_ms)
{
    char port[16];
    long long deadline;

    snprintf(port, sizeof(port), "%d", s->port);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        if (delay_ms > 0)
            sleep_ms(delay_ms);
        if (s->password != NULL)
            execl(redis_bin, "redis-server", "--port", port, "--bind",
                  "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                  s->dir, "--requirepass", s->password, (char *)NULL);
        else
            execl(redis_bin, "redis-server", "--port", port, "--bind",
                  "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                  s->dir, (char *)NULL);
        _exit(127);
    }
    if (delay_ms > 0)
        return;
    deadline = now_ms() + 5000;
    while (!can_connect(s->port) && now_ms() < deadline)
        sleep_ms(20);
    assert_true(can_connect(s->port));
}

/* Kills redis-server the hard way, as a crash or an OOM kill would. */
static void server_kill(server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* Starts a server; with a password when password is not NULL. */
static int setup_server_with(void **state, const char *password)
{
    server *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return -1;
    *state = s;
    s->password = password;
    if (redis_bin[0] == '\0')
        return 0;
    snprintf(s->dir, sizeof(s->dir), "/tmp/ds_redis_test.XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    s->port = free_port();
    server_start(s, 0);
    return 0;
}

static int setup_server(void **state)
{
    return setup_server_with(state, NULL);
}

#define PASSWORD "s3cret-pw-9f2c"

static int setup_server_with_password(void **state)
{
    return setup_server_with(state, PASSWORD);
}

static int teardown_server(void **state)
{
    server *s = *state;

    server_kill(s);
    if (s->dir[0] != '\0')
        rmdir(s->dir);
    free(s);
    return 0;
}

static void skip_without_redis(void)
{
    if (redis_bin[0] == '\0') {
        print_message("redis-server not found on PATH: skipped\n");
        skip();
    }
}

/* SET key value and check the +OK. */
static void set_ok(ds_redis *r, const char *key, const char *value)
{
    ds_err err;
    redisReply *reply;

    ds_err_clear(&err);
    reply = ds_redis_cmd(r, &err, "SET %s %s", key, value);
    assert_non_null(reply);
    assert_string_equal(err.reason, "");
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    assert_string_equal(reply->str, "OK");
    freeReplyObject(reply);
}

static void set_then_get_returns_the_value(void **state)
{
    server *s = *state;
    const char *argv[] = { "GET", "docsync:test:k" };
    ds_redis *r;
    redisReply *reply;
    ds_err err;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 1000);
    assert_non_null(r);
    set_ok(r, "docsync:test:k", "v1");

    ds_err_clear(&err);
    reply = ds_redis_argv(r, &err, 2, argv, NULL);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, "v1");
    freeReplyObject(reply);
    ds_redis_free(r);
}

static void an_error_reply_is_an_answer_not_an_outage(void **state)
{
    server *s = *state;
    ds_redis *r;
    redisReply *reply;
    ds_err err;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 1000);
    set_ok(r, "docsync:test:s", "text");

    ds_err_clear(&err);
    reply = ds_redis_cmd(r, &err, "INCR docsync:test:s");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ERROR);
    assert_int_equal(err.klass, DS_CLASS_NONE);
    freeReplyObject(reply);
    ds_redis_free(r);
}

static void after_a_redis_restart_the_next_command_succeeds(void **state)
{
    server *s = *state;
    ds_redis *r;
    redisReply *reply;
    ds_err err;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 1000);
    set_ok(r, "docsync:test:k", "before");

    /* The handle's connection now points at a dead server. */
    server_kill(s);
    server_start(s, 0);

    set_ok(r, "docsync:test:k", "after");
    ds_err_clear(&err);
    reply = ds_redis_cmd(r, &err, "GET docsync:test:k");
    assert_non_null(reply);
    assert_string_equal(reply->str, "after");
    freeReplyObject(reply);
    ds_redis_free(r);
}

static void a_command_sent_while_redis_restarts_waits_for_it(void **state)
{
    server *s = *state;
    ds_redis *r;
    long long start;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 1000);
    set_ok(r, "docsync:test:k", "before");

    /* Down now, back in 400 ms: within the retry budget. */
    server_kill(s);
    server_start(s, 400);
    start = now_ms();
    set_ok(r, "docsync:test:k", "during");
    assert_true(now_ms() - start >= 300);
    ds_redis_free(r);
}

static void with_redis_down_for_good_the_command_fails_in_bound(void **state)
{
    server *s = *state;
    ds_redis *r;
    long long start, took;
    ds_err err;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 500);
    set_ok(r, "docsync:test:k", "v");
    server_kill(s);

    ds_err_clear(&err);
    start = now_ms();
    assert_null(ds_redis_cmd(r, &err, "GET docsync:test:k"));
    took = now_ms() - start;
    print_message("down for good: failed after %lld ms: %s\n", took, err.msg);

    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    assert_string_equal(err.reason, "redis_unavailable");
    assert_in_range(took, 500, 5000);
    ds_redis_free(r);
}

/* A handle for the test server with these credentials. */
static ds_redis *redis_with_auth(const server *s, const char *user,
                                 const char *password)
{
    ds_redis *r = ds_redis_new("127.0.0.1", s->port, 1000);
    ds_err err;

    assert_non_null(r);
    ds_err_clear(&err);
    assert_int_equal(ds_redis_set_auth(r, user, password, &err), 0);
    return r;
}

/* Runs GET and expects it to fail on credentials, fast and without the
 * password in the message. */
static void get_fails_on_auth(ds_redis *r)
{
    long long start = now_ms();
    ds_err err;

    ds_err_clear(&err);
    assert_null(ds_redis_cmd(r, &err, "GET docsync:test:k"));
    print_message("auth failure: %s (%s)\n", err.msg, err.reason);
    assert_string_equal(err.reason, "redis_auth");
    assert_int_equal(err.klass, DS_CLASS_PERMANENT);
    assert_null(strstr(err.msg, PASSWORD));
    assert_null(strstr(err.msg, "wrong-pw"));
    /* Not retried: a wrong password stays wrong. */
    assert_in_range(now_ms() - start, 0, 1000);
}

static void with_the_right_password_commands_succeed(void **state)
{
    server *s = *state;
    ds_redis *r;

    skip_without_redis();
    r = redis_with_auth(s, NULL, PASSWORD);
    set_ok(r, "docsync:test:k", "v");
    ds_redis_free(r);
}

static void a_wrong_password_fails_with_redis_auth(void **state)
{
    server *s = *state;
    ds_redis *r;

    skip_without_redis();
    r = redis_with_auth(s, NULL, "wrong-pw");
    get_fails_on_auth(r);
    ds_redis_free(r);
}

static void a_missing_password_fails_with_redis_auth(void **state)
{
    server *s = *state;
    ds_redis *r;

    skip_without_redis();
    r = ds_redis_new("127.0.0.1", s->port, 1000);
    get_fails_on_auth(r);
    ds_redis_free(r);
}

/* An ACL user that does not exist is refused like a wrong password. */
static void an_unknown_acl_user_fails_with_redis_auth(void **state)
{
    server *s = *state;
    ds_redis *r;

    skip_without_redis();
    r = redis_with_auth(s, "nobody", PASSWORD);
    get_fails_on_auth(r);
    ds_redis_free(r);
}

/* The default user named explicitly: AUTH default <password>. */
static void the_default_acl_user_with_the_password_succeeds(void **state)
{
    server *s = *state;
    ds_redis *r;

    skip_without_redis();
    r = redis_with_auth(s, "default", PASSWORD);
    set_ok(r, "docsync:test:k", "v");
    ds_redis_free(r);
}

/* The new connection after a restart must authenticate again, or every
 * later command would get NOAUTH. */
static void after_a_restart_the_handle_authenticates_again(void **state)
{
    server *s = *state;
    redisReply *reply;
    ds_redis *r;
    ds_err err;

    skip_without_redis();
    r = redis_with_auth(s, NULL, PASSWORD);
    set_ok(r, "docsync:test:k", "before");

    server_kill(s);
    server_start(s, 0);

    set_ok(r, "docsync:test:k", "after");
    ds_err_clear(&err);
    reply = ds_redis_cmd(r, &err, "GET docsync:test:k");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, "after");
    freeReplyObject(reply);
    ds_redis_free(r);
}

/* REDIS_PORT, REDIS_PASSWORD_FILE and REDIS_USERNAME as a deployment sets
 * them; password_file NULL leaves the password out. */
static void set_redis_env(const server *s, const char *password_file,
                          const char *user)
{
    char port[16];

    snprintf(port, sizeof(port), "%d", s->port);
    setenv("REDIS_HOST", "127.0.0.1", 1);
    setenv("REDIS_PORT", port, 1);
    unsetenv("REDIS_PASSWORD");
    unsetenv("REDIS_PASSWORD_FILE");
    unsetenv("REDIS_USERNAME");
    if (password_file != NULL)
        setenv("REDIS_PASSWORD_FILE", password_file, 1);
    if (user != NULL)
        setenv("REDIS_USERNAME", user, 1);
}

/* Writes text to a new temporary file; returns its path (caller frees). */
static char *password_file_with(const char *text)
{
    char *path = strdup("/tmp/ds_redis_pw.XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Every stage and docsyncctl get their handle from ds_runtime_redis. */
static void the_runtime_handle_reads_redis_password_file(void **state)
{
    server *s = *state;
    char *path;
    ds_redis *r;
    ds_err err;

    skip_without_redis();
    path = password_file_with(PASSWORD "\n");
    set_redis_env(s, path, "default");
    ds_err_clear(&err);
    r = ds_runtime_redis(&err);
    assert_non_null(r);
    assert_string_equal(err.reason, "");
    set_ok(r, "docsync:test:k", "v");

    server_kill(s);
    server_start(s, 0);
    set_ok(r, "docsync:test:k", "again");
    ds_redis_free(r);
    unlink(path);
    free(path);
}

/* A wrong password stops a program at start, not at its first document. */
static void the_runtime_refuses_a_wrong_password_at_start(void **state)
{
    server *s = *state;
    ds_redis *r;
    ds_err err;

    skip_without_redis();
    set_redis_env(s, NULL, NULL);
    setenv("REDIS_PASSWORD", "wrong-pw", 1);
    ds_err_clear(&err);
    r = ds_runtime_redis(&err);
    print_message("at start: %s (%s)\n", err.msg, err.reason);
    assert_null(r);
    assert_string_equal(err.reason, "redis_auth");
    assert_null(strstr(err.msg, "wrong-pw"));

    set_redis_env(s, NULL, NULL);
    ds_err_clear(&err);
    assert_null(ds_runtime_redis(&err));
    assert_string_equal(err.reason, "redis_auth");
    unsetenv("REDIS_PASSWORD");
}

/* A fake Redis that answers every command with one scripted reply per
 * command: `bad` copies of `bad_reply`, then "+PONG". With bad_reply NULL
 * it never answers. Read the counters only after fake_stop. */
typedef struct fake {
    int lfd;
    int port;
    int bad;
    const char *bad_reply;
    int commands;          /* commands seen */
    int connections;       /* connections accepted */
    atomic_int stop;
    pthread_t thread;
} fake;

static void fake_serve(fake *f, int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char buf[4096];
    const char *reply;
    ssize_t n;

    while (!f->stop) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        f->commands++;
        if (f->commands <= f->bad && f->bad_reply == NULL)
            continue;
        reply = f->commands <= f->bad ? f->bad_reply : "+PONG\r\n";
        if (write(fd, reply, strlen(reply)) < 0)
            return;
    }
}

static void *fake_main(void *ud)
{
    fake *f = ud;
    struct pollfd p = { .fd = f->lfd, .events = POLLIN };
    int fd;

    while (!f->stop) {
        if (poll(&p, 1, 50) <= 0)
            continue;
        fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        f->connections++;
        fake_serve(f, fd);
        close(fd);
    }
    return NULL;
}

static void fake_start(fake *f, int bad, const char *bad_reply)
{
    memset(f, 0, sizeof(*f));
    f->bad = bad;
    f->bad_reply = bad_reply;
    f->lfd = listen_any(&f->port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->lfd);
}

static void a_loading_server_is_waited_for_not_answered(void **state)
{
    static const char loading[] =
        "-LOADING Redis is loading the dataset in memory\r\n";
    ds_redis *r;
    redisReply *reply;
    ds_err err;
    fake f;

    (void)state;
    fake_start(&f, 2, loading);
    r = ds_redis_new("127.0.0.1", f.port, 1000);
    ds_err_clear(&err);
    reply = ds_redis_cmd(r, &err, "PING");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    assert_string_equal(reply->str, "PONG");
    freeReplyObject(reply);
    ds_redis_free(r);
    fake_stop(&f);
    assert_int_equal(f.commands, 3);
}

static void a_server_loading_for_good_is_unavailable(void **state)
{
    static const char loading[] =
        "-LOADING Redis is loading the dataset in memory\r\n";
    ds_redis *r;
    ds_err err;
    fake f;

    (void)state;
    fake_start(&f, 1000, loading);
    r = ds_redis_new("127.0.0.1", f.port, 1000);
    ds_err_clear(&err);
    assert_null(ds_redis_cmd(r, &err, "PING"));
    assert_string_equal(err.reason, "redis_unavailable");
    assert_int_equal(err.klass, DS_CLASS_TRANSIENT);
    ds_redis_free(r);
    fake_stop(&f);
    assert_in_range(f.commands, 2, DS_REDIS_MAX_TRIES);
}

static void a_server_that_never_answers_times_out_and_reconnects(void **state)
{
    ds_redis *r;
    ds_err err;
    long long start, took;
    fake f;

    (void)state;
    fake_start(&f, 1000, NULL);
    r = ds_redis_new("127.0.0.1", f.port, 200);
    ds_err_clear(&err);
    start = now_ms();
    assert_null(ds_redis_cmd(r, &err, "PING"));
    took = now_ms() - start;

    assert_string_equal(err.reason, "redis_unavailable");
    assert_in_range(took, 200, DS_REDIS_RETRY_BUDGET_MS + 1000);
    ds_redis_free(r);
    fake_stop(&f);
    /* A timed-out connection is never reused: its reply may come late. */
    assert_true(f.connections >= 2);
    assert_int_equal(f.connections, f.commands);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(set_then_get_returns_the_value,
                                        setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(
            an_error_reply_is_an_answer_not_an_outage, setup_server,
            teardown_server),
        cmocka_unit_test_setup_teardown(
            after_a_redis_restart_the_next_command_succeeds, setup_server,
            teardown_server),
        cmocka_unit_test_setup_teardown(
            a_command_sent_while_redis_restarts_waits_for_it, setup_server,
            teardown_server),
        cmocka_unit_test_setup_teardown(
            with_redis_down_for_good_the_command_fails_in_bound,
            setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(
            with_the_right_password_commands_succeed,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            a_wrong_password_fails_with_redis_auth,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            a_missing_password_fails_with_redis_auth,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            an_unknown_acl_user_fails_with_redis_auth,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            the_default_acl_user_with_the_password_succeeds,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            after_a_restart_the_handle_authenticates_again,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            the_runtime_handle_reads_redis_password_file,
            setup_server_with_password, teardown_server),
        cmocka_unit_test_setup_teardown(
            the_runtime_refuses_a_wrong_password_at_start,
            setup_server_with_password, teardown_server),
        cmocka_unit_test(a_loading_server_is_waited_for_not_answered),
        cmocka_unit_test(a_server_loading_for_good_is_unavailable),
        cmocka_unit_test(a_server_that_never_answers_times_out_and_reconnects),
    };

    /* A write to a socket Redis closed must fail, not kill us (C18). */
    signal(SIGPIPE, SIG_IGN);
    find_redis_server();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
