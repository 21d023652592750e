/*
 * fixture.h - a private Redis and sandbox for the tests of the stages.
 *
 * A stage test starts its own redis-server and bin/docsync-sandbox for each
 * test, on free ports and in a fresh temporary directory, and stops both
 * afterwards: no test sees another's state, nor a stack a developer has
 * running. The helpers then let a test call the sandbox's API, read what a
 * handler wrote to Redis, and hand the handler its settings through the
 * environment exactly as a deployment would.
 *
 * Header-only: every helper is static inline, so that a test file compiles
 * only what it uses. Include it after <cmocka.h>; binaries run from the
 * repository's root (bin/, samples/ and tests/unit/data/ are relative).
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <ftw.h>
#include <hiredis.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ds_blob.h"
#include "ds_blob_fs.h"
#include "ds_blobref.h"
#include "ds_crypto.h"
#include "ds_error.h"
#include "ds_http.h"
#include "ds_loop.h"
#include "ds_redis.h"

#define FX_SANDBOX_BIN "bin/docsync-sandbox"
#define FX_TRANSACTIONS "tests/unit/data/stage/transactions.json"
#define FX_CRM_KEY "crm_test_key"
#define FX_DEST_KEY "dest_test_key"
#define FX_START_MS 5000     /* longest wait for a server to start or stop */

enum { FX_REDIS = 1, FX_SANDBOX = 2 };

/* A stage's configure and cleanup, as its main() calls them. */
typedef int (*fx_configure_fn)(void *stage, ds_err *err);
typedef void (*fx_cleanup_fn)(void *stage);

typedef struct fx {
    int ready;               /* 1 once the servers asked for are up */
    char missing[128];       /* why the test must be skipped, or "" */
    char dir[64];            /* the private temporary directory */
    char blob_dir[128];      /* dir/blobs: BLOB_DIR of the stages */
    int redis_port;
    pid_t redis_pid;
    int sandbox_port;
    pid_t sandbox_pid;
    char sandbox_url[64];    /* "http://127.0.0.1:<port>" */
    void *stage;             /* the stage under test, set up by */
    fx_configure_fn configure;   /* fx_stage_start */
    fx_cleanup_fn cleanup;
    int configured;          /* stage holds what configure made */
} fx;

/* Milliseconds on the monotonic clock, for timing a handler. */
static inline long long fx_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms milliseconds. */
static inline void fx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Once per test binary: what a stage's main would do before any thread
 * (libcurl's global init), and SIGPIPE ignored so that a write to a server
 * the teardown stopped fails instead of killing the test. */
static inline void fx_global_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    ds_http_global_init();
}

/* Finds an executable called name on PATH and writes its path into out.
 * Returns 1 when found, 0 otherwise. */
static inline int fx_find_on_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    char *dir, *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s", path ? path : "/usr/bin:/bin");
    for (dir = strtok_r(dirs, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", dir, name);
        if (access(out, X_OK) == 0)
            return 1;
    }
    out[0] = '\0';
    return 0;
}

/* A TCP port on 127.0.0.1 that was free a moment ago: bound to port 0,
 * read back, closed. A server started on it may still lose a race, which
 * fx_redis_start answers by trying another. */
static inline int fx_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Forks and runs argv[0] with stdout and stderr going to log_path (the
 * servers' logs stay in the temporary directory for a failed test to
 * show). Returns the child's pid, or -1. */
static inline pid_t fx_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    if (freopen(log_path, "w", stdout) == NULL ||
        freopen(log_path, "a", stderr) == NULL)
        _exit(126);
    /* Flags win over these anyway; a webhook must never leave the test. */
    unsetenv("SANDBOX_WEBHOOK_URL");
    execv(argv[0], argv);
    _exit(127);
}

/* Stops a server the fixture started: SIGTERM, then SIGKILL if it has not
 * exited within FX_START_MS. Sets *pid to 0; a 0 pid is left alone. */
static inline void fx_stop_process(pid_t *pid)
{
    long long deadline = fx_now_ms() + FX_START_MS;

    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    while (waitpid(*pid, NULL, WNOHANG) == 0) {
        if (fx_now_ms() > deadline) {
            kill(*pid, SIGKILL);
            waitpid(*pid, NULL, 0);
            break;
        }
        fx_sleep_ms(10);
    }
    *pid = 0;
}

/* Nonzero while the child pid has not exited. */
static inline int fx_alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* A connection of the test's own to the fixture's Redis, independent of
 * the ds_redis under test. NULL when Redis does not answer. */
static inline redisContext *fx_redis_connect(const fx *f)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", f->redis_port, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c != NULL)
        redisSetTimeout(c, tv);
    return c;
}

/* Nonzero when Redis answers PING with PONG. */
static inline int fx_redis_pong(const fx *f)
{
    redisContext *c = fx_redis_connect(f);
    redisReply *r = c != NULL ? redisCommand(c, "PING") : NULL;
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             strcmp(r->str, "PONG") == 0;

    if (r != NULL)
        freeReplyObject(r);
    if (c != NULL)
        redisFree(c);
    return ok;
}

/* Starts redis-server (found at bin) without persistence on a free port
 * and waits until it answers PING. A port lost to a race is replaced by
 * another, three times at most. Returns 0 or -1. */
static inline int fx_redis_start(fx *f, const char *bin)
{
    char port[16], dir[96], log[128];
    char *argv[] = {(char *)bin, "--port", port, "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", dir, NULL};
    int tries;

    snprintf(dir, sizeof(dir), "%s/redis", f->dir);
    snprintf(log, sizeof(log), "%s/redis.log", f->dir);
    if (mkdir(dir, 0700) != 0)
        return -1;
    for (tries = 0; tries < 3; tries++) {
        long long deadline = fx_now_ms() + FX_START_MS;

        f->redis_port = fx_free_port();
        snprintf(port, sizeof(port), "%d", f->redis_port);
        f->redis_pid = fx_spawn(argv, log);
        if (f->redis_pid < 0)
            return -1;
        while (fx_alive(f->redis_pid) && !fx_redis_pong(f) &&
               fx_now_ms() < deadline)
            fx_sleep_ms(10);
        if (fx_redis_pong(f))
            return 0;
        fx_stop_process(&f->redis_pid);
    }
    return -1;
}

/* The port in the sandbox's "listening" log line, or -1 while it has not
 * written one. The sandbox is started with --port 0 and picks its own free
 * port, so that no other process can take it first. */
static inline int fx_sandbox_port_from_log(const char *log_path)
{
    char line[2048];
    int port = -1;
    FILE *fp = fopen(log_path, "r");

    while (fp != NULL && port < 0 && fgets(line, sizeof(line), fp)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "msg"));

        if (msg != NULL && strcmp(msg, "listening") == 0)
            port = (int)json_integer_value(json_object_get(j, "port"));
        json_decref(j);
    }
    if (fp != NULL)
        fclose(fp);
    return port;
}

/* Starts bin/docsync-sandbox on 127.0.0.1 and a free port, with its data in
 * dir/sandbox, the transactions of FX_TRANSACTIONS and the keys FX_CRM_KEY
 * and FX_DEST_KEY, and no webhook. Returns 0 once it listens, or -1. */
static inline int fx_sandbox_start(fx *f)
{
    char data[96], log[128];
    char *argv[] = {FX_SANDBOX_BIN, "--port", "0", "--host", "127.0.0.1",
                    "--data-dir", data, "--transactions", FX_TRANSACTIONS,
                    "--crm-api-key", FX_CRM_KEY, "--dest-api-key",
                    FX_DEST_KEY, NULL};
    long long deadline = fx_now_ms() + FX_START_MS;

    snprintf(data, sizeof(data), "%s/sandbox", f->dir);
    snprintf(log, sizeof(log), "%s/sandbox.log", f->dir);
    f->sandbox_pid = fx_spawn(argv, log);
    if (f->sandbox_pid < 0)
        return -1;
    while (fx_alive(f->sandbox_pid) && fx_now_ms() < deadline &&
           (f->sandbox_port = fx_sandbox_port_from_log(log)) < 0)
        fx_sleep_ms(10);
    if (f->sandbox_port <= 0) {
        fx_stop_process(&f->sandbox_pid);
        return -1;
    }
    snprintf(f->sandbox_url, sizeof(f->sandbox_url), "http://127.0.0.1:%d",
             f->sandbox_port);
    return 0;
}

/* Removes one entry for fx_rm_tree. */
static inline int fx_rm_entry(const char *path, const struct stat *st,
                              int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it, like rm -rf. */
static inline void fx_rm_tree(const char *dir)
{
    nftw(dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Stops the servers and removes the temporary directory. Safe on a fixture
 * that was skipped or only half started. */
static inline void fx_stop(fx *f)
{
    fx_stop_process(&f->sandbox_pid);
    fx_stop_process(&f->redis_pid);
    if (f->dir[0] != '\0')
        fx_rm_tree(f->dir);
    f->dir[0] = '\0';
    f->ready = 0;
}

/* Starts what `what` asks for (FX_REDIS, FX_SANDBOX or both) in a fresh
 * temporary directory. Returns 0 when they answer, 0 with f->missing set
 * and nothing started when redis-server or the sandbox binary is missing
 * (the test then skips), -1 when a server did not come up. */
static inline int fx_start(fx *f, int what)
{
    char redis_bin[1024];

    memset(f, 0, sizeof(*f));
    if ((what & FX_REDIS) &&
        !fx_find_on_path("redis-server", redis_bin, sizeof(redis_bin))) {
        snprintf(f->missing, sizeof(f->missing), "redis-server not on PATH");
        return 0;
    }
    if ((what & FX_SANDBOX) && access(FX_SANDBOX_BIN, X_OK) != 0) {
        snprintf(f->missing, sizeof(f->missing), "%s missing (run make)",
                 FX_SANDBOX_BIN);
        return 0;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/ds_stage_test.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        f->dir[0] = '\0';
        return -1;
    }
    snprintf(f->blob_dir, sizeof(f->blob_dir), "%s/blobs", f->dir);
    if (((what & FX_REDIS) && fx_redis_start(f, redis_bin) < 0) ||
        ((what & FX_SANDBOX) && fx_sandbox_start(f) < 0)) {
        fprintf(stderr, "fixture: a server did not start; logs in %s\n",
                f->dir);
        fx_stop_process(&f->sandbox_pid);
        fx_stop_process(&f->redis_pid);
        return -1;
    }
    f->ready = 1;
    return 0;
}

/* First statement of a test that needs the servers: skips it, saying why,
 * when fx_start found a tool missing. */
#define FX_REQUIRE(f)                                                    \
    do {                                                                 \
        if (!(f)->ready) {                                               \
            print_message("skipped: %s\n", (f)->missing);                \
            skip();                                                      \
        }                                                                \
    } while (0)

/* Sets name to the decimal value of v. */
static inline void fx_setenv_long(const char *name, long v)
{
    char text[32];

    snprintf(text, sizeof(text), "%ld", v);
    setenv(name, text, 1);
}

/* Points every variable a stage's configure() reads at the fixture:
 * Redis, the blob store, the sandbox as both CRM and destination with its
 * keys, and HTTP bounds generous enough for a loaded machine. The _FILE
 * and header variants are removed, since a secret file would win over the
 * value set here. A test changes one of them after this call to try it. */
static inline void fx_stage_env(const fx *f)
{
    static const char *const cleared[] = {
        "CONNECTOR_FILE", "CRM_API_KEY_FILE", "DEST_API_KEY_FILE",
        "CRM_API_KEY_HEADER", "DEST_API_KEY_HEADER", "REDIS_TIMEOUT_MS",
        "WEBHOOK_SECRET_FILE",
        "WEBHOOK_SIGNATURE_HEADER", "WEBHOOK_MAX_BODY",
    };
    size_t i;

    for (i = 0; i < sizeof(cleared) / sizeof(cleared[0]); i++)
        unsetenv(cleared[i]);
    setenv("REDIS_HOST", "127.0.0.1", 1);
    fx_setenv_long("REDIS_PORT", f->redis_port);
    setenv("BLOB_DIR", f->blob_dir, 1);
    setenv("CRM_BASE_URL", f->sandbox_url, 1);
    setenv("CRM_API_KEY", FX_CRM_KEY, 1);
    setenv("DEST_BASE_URL", f->sandbox_url, 1);
    setenv("DEST_API_KEY", FX_DEST_KEY, 1);
    setenv("HTTP_CONNECT_TIMEOUT_MS", "2000", 1);
    setenv("HTTP_TIMEOUT_MS", "10000", 1);
}

/* A response body gathered by fx_collect. */
typedef struct fx_buf {
    char *data;
    size_t len;
} fx_buf;

/* libcurl's write callback for fx_call: appends to an fx_buf. */
static inline size_t fx_collect(char *p, size_t size, size_t n, void *ud)
{
    fx_buf *b = ud;
    char *grown = realloc(b->data, b->len + size * n + 1);

    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Calls the sandbox with libcurl: method on path, with an optional extra
 * header ("Name: value", e.g. an API key) and an optional JSON body. Sets
 * *status (0 when no answer came) and returns the answer parsed as JSON,
 * or NULL when it is empty or not JSON. */
static inline json_t *fx_call(const fx *f, const char *method,
                              const char *path, const char *header,
                              const char *body, long *status)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    fx_buf answer = {NULL, 0};
    char url[512];
    json_t *json = NULL;

    *status = 0;
    assert_non_null(curl);
    snprintf(url, sizeof(url), "%s%s", f->sandbox_url, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (header != NULL)
        headers = curl_slist_append(headers, header);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fx_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    if (answer.data != NULL)
        json = json_loads(answer.data, 0, NULL);
    free(answer.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return json;
}

/* Calls the sandbox's admin API (no key) and asserts the status. Returns
 * the JSON answer (the caller decrefs; NULL for an empty one). */
static inline json_t *fx_admin(const fx *f, const char *method,
                               const char *path, const char *body,
                               long want_status)
{
    long status;
    json_t *answer = fx_call(f, method, path, NULL, body, &status);

    if (status != want_status)
        print_message("%s %s answered %ld\n", method, path, status);
    assert_int_equal(status, want_status);
    return answer;
}

/* Adds the file at path to the sandbox's CRM as document doc_id of
 * account_id, without sending a webhook. */
static inline void fx_crm_add(const fx *f, const char *doc_id,
                              const char *account_id, const char *path,
                              const char *description)
{
    json_t *req = json_pack("{s:s,s:s,s:s,s:s,s:b}", "documentId", doc_id,
                            "accountId", account_id, "path", path,
                            "description", description, "webhook", 0);
    char *text = json_dumps(req, JSON_COMPACT);

    assert_non_null(text);
    json_decref(fx_admin(f, "POST", "/admin/crm/documents", text, 201));
    free(text);
    json_decref(req);
}

/* Queues a fault at the sandbox (POST /admin/faults); fault_json is the
 * request body, e.g. {"route":"crm_content","status":500}. */
static inline void fx_fault(const fx *f, const char *fault_json)
{
    json_decref(fx_admin(f, "POST", "/admin/faults", fault_json, 200));
}

/* Runs a Redis command on a connection of the test's own and returns its
 * reply (freeReplyObject), failing the test when Redis does not answer. */
static inline redisReply *fx_redis_vcmd(const fx *f, const char *fmt,
                                        va_list ap)
{
    redisContext *c = fx_redis_connect(f);
    redisReply *reply;

    assert_non_null(c);
    reply = redisvCommand(c, fmt, ap);
    redisFree(c);
    assert_non_null(reply);
    return reply;
}

/* fx_redis_vcmd with the command's arguments inline, as redisCommand. */
static inline redisReply *fx_redis_cmd(const fx *f, const char *fmt, ...)
{
    redisReply *reply;
    va_list ap;

    va_start(ap, fmt);
    reply = fx_redis_vcmd(f, fmt, ap);
    va_end(ap);
    return reply;
}

/* The integer answer of a Redis command (EXISTS, SCARD, DBSIZE ...). */
static inline long long fx_redis_int(const fx *f, const char *fmt, ...)
{
    redisReply *reply;
    long long n;
    va_list ap;

    va_start(ap, fmt);
    reply = fx_redis_vcmd(f, fmt, ap);
    va_end(ap);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    n = reply->integer;
    freeReplyObject(reply);
    return n;
}

/* A field of the document's state hash, HGET docsync:doc:<id> <field>,
 * as a string the caller frees, or NULL when absent. */
static inline char *fx_doc_field(const fx *f, const char *doc_id,
                                 const char *field)
{
    redisReply *r = fx_redis_cmd(f, "HGET docsync:doc:%s %s", doc_id, field);
    char *value = NULL;

    if (r->type == REDIS_REPLY_STRING)
        value = strdup(r->str);
    else
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    return value;
}

/* Asserts the document's state in Redis: want, or NULL for none at all. */
#define FX_ASSERT_STATE(f, doc_id, want)                                 \
    do {                                                                 \
        char *state_ = fx_doc_field((f), (doc_id), "state");             \
        const char *want_ = (want);                                      \
        if (want_ == NULL)                                               \
            assert_null(state_);                                         \
        else                                                             \
            assert_string_equal(state_ ? state_ : "(none)", want_);      \
        free(state_);                                                    \
    } while (0)

/* Asserts that a handler failed: rc -1, and err of class klass with the
 * reason token reason. Prints both sides of each comparison, and the
 * handler's message, from the test's own line. */
#define FX_ASSERT_FAILED(rc_, err_, class_, reason_)                     \
    do {                                                                 \
        int fx_rc_ = (rc_);                                              \
        print_message("handler: rc %d, %s %s: %s\n", fx_rc_,             \
                      ds_class_name((err_)->klass), (err_)->reason,      \
                      (err_)->msg);                                      \
        assert_int_equal(fx_rc_, -1);                                    \
        assert_string_equal(ds_class_name((err_)->klass),                \
                            ds_class_name(class_));                      \
        assert_string_equal((err_)->reason, (reason_));                  \
    } while (0)

/* Asserts that a handler succeeded, printing its error when it did not. */
#define FX_ASSERT_OK(rc_, err_)                                          \
    do {                                                                 \
        int fx_rc_ = (rc_); /* once: rc_ may be the call itself */      \
        if (fx_rc_ != 0)                                                 \
            print_message("handler failed: %s %s: %s\n",                 \
                          ds_class_name((err_)->klass), (err_)->reason,  \
                          (err_)->msg);                                  \
        assert_int_equal(fx_rc_, 0);                                     \
        assert_string_equal((err_)->reason, "");                         \
    } while (0)

/* Asserts that a JSON object holds the string want under key. */
#define FX_ASSERT_JSON_STR(obj, key, want)                               \
    do {                                                                 \
        const char *got_ = json_string_value(json_object_get((obj), key)); \
        assert_string_equal(got_ ? got_ : "(absent)", (want));           \
    } while (0)

/* Reads a JSON file, a test's data case; fails the test when it is not. */
static inline json_t *fx_load_json(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);

    if (j == NULL)
        print_message("%s: %s\n", path, jerr.text);
    assert_non_null(j);
    return j;
}

/* A record as the loop hands it to a handler: key = documentId, first
 * attempt. value stays owned by the caller. */
static inline ds_msg fx_msg(json_t *value)
{
    ds_msg m = {0};

    m.topic = "test";
    m.key = json_string_value(json_object_get(value, "documentId"));
    m.value = value;
    m.trace_id = "";
    m.attempt = 1;
    return m;
}

/* sha256 and md5 (hex) and size of the file at path, computed here with
 * ds_digest over the file's bytes. */
static inline void fx_file_digest(const char *path,
                                  char sha256[DS_SHA256_HEX_LEN + 1],
                                  char md5[DS_MD5_HEX_LEN + 1],
                                  uint64_t *size)
{
    FILE *fp = fopen(path, "rb");
    ds_digest *d = ds_digest_new();
    char buf[8192];
    size_t n;

    assert_non_null(fp);
    assert_non_null(d);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        assert_int_equal(ds_digest_update(d, buf, n), 0);
    assert_int_equal(ds_digest_final(d, sha256, md5, size), 0);
    ds_digest_free(d);
    fclose(fp);
}

/* The size of the file at path, as stat(2) reports it. */
static inline uint64_t fx_file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* Regular files at any depth below dir (0 when dir does not exist). */
static inline int fx_count_files(const char *dir)
{
    char path[4096];
    struct dirent *e;
    struct stat st;
    int n = 0;
    DIR *d = opendir(dir);

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >=
                (int)sizeof(path) ||
            lstat(path, &st) != 0)
            continue;
        n += S_ISDIR(st.st_mode) ? fx_count_files(path) : 1;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

/* Nonzero when the blob named sha256 is in the fixture's blob store. */
static inline int fx_blob_exists(const fx *f, const char *sha256)
{
    char path[512];

    assert_int_equal(ds_blob_fs_path(f->blob_dir, sha256, path,
                                     sizeof(path)), 0);
    return access(path, F_OK) == 0;
}

/* Puts the file at path into the blob store with ds_blob_writer, as the
 * fetcher would, and holds it for doc_id. Writes its sha256 and md5. */
static inline void fx_put_blob(const fx *f, const char *path,
                               const char *doc_id,
                               char sha256[DS_SHA256_HEX_LEN + 1],
                               char md5[DS_MD5_HEX_LEN + 1], uint64_t *size)
{
    ds_redis *r = ds_redis_new("127.0.0.1", f->redis_port, 1000);
    ds_blob_store *store;
    ds_blob_writer *w;
    FILE *fp = fopen(path, "rb");
    char buf[8192];
    size_t n;
    ds_err err;

    ds_err_clear(&err);
    assert_non_null(fp);
    assert_non_null(r);
    store = ds_blob_store_new(f->blob_dir, &err);
    assert_non_null(store);
    w = ds_blob_writer_new(store, &err);
    assert_non_null(w);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        assert_int_equal(ds_blob_write(w, buf, n, &err), 0);
    assert_int_equal(ds_blob_commit(w, sha256, md5, size, &err), 0);
    assert_int_equal(ds_blobref_hold(r, store, sha256, doc_id, "fixture",
                                     &err), 0);
    ds_blob_writer_free(w);
    ds_blob_store_free(store);
    ds_redis_free(r);
    fclose(fp);
}

/* The message the mapper would publish for the file at path: the fields
 * of the data case template (ids, names, dates, transactionId), the file
 * stored in the blob store and held for the document, and its blob,
 * sha256, md5 and size. The caller decrefs. */
static inline json_t *fx_mapped_message(const fx *f, const char *template,
                                        const char *path)
{
    json_t *msg = fx_load_json(template);
    const char *doc_id = json_string_value(json_object_get(msg,
                                                           "documentId"));
    char sha256[DS_SHA256_HEX_LEN + 1], md5[DS_MD5_HEX_LEN + 1];
    uint64_t size;

    assert_non_null(doc_id);
    fx_put_blob(f, path, doc_id, sha256, md5, &size);
    json_object_set_new(msg, "blob", json_string(sha256));
    json_object_set_new(msg, "sha256", json_string(sha256));
    json_object_set_new(msg, "md5", json_string(md5));
    json_object_set_new(msg, "size", json_integer((json_int_t)size));
    return msg;
}

/* (Re)configures the stage from the environment as its main would,
 * cleaning up what an earlier configure made. Returns 0 or -1. */
static inline int fx_stage_configure(fx *f)
{
    ds_err err;

    if (f->configured)
        f->cleanup(f->stage);
    f->configured = 0;
    ds_err_clear(&err);
    if (f->configure(f->stage, &err) < 0) {
        print_message("configure: %s: %s\n", err.reason, err.msg);
        return -1;
    }
    f->configured = 1;
    return 0;
}

/* A setup for a stage's tests: starts the servers in `what`, points the
 * stages' environment at them, sets the NULL-terminated "NAME", "value"
 * pairs of env, and configures the stage. Returns 0, also when the test
 * will skip (f->ready is then 0), or -1 when something failed. */
static inline int fx_stage_start(fx *f, int what, const char *const *env,
                                 fx_configure_fn configure,
                                 fx_cleanup_fn cleanup, void *stage)
{
    if (fx_start(f, what) < 0)
        return -1;
    f->stage = stage;
    f->configure = configure;
    f->cleanup = cleanup;
    if (!f->ready)
        return 0;
    fx_stage_env(f);
    for (; env != NULL && env[0] != NULL; env += 2)
        setenv(env[0], env[1], 1);
    return fx_stage_configure(f);
}

/* The teardown that goes with fx_stage_start. */
static inline void fx_stage_stop(fx *f)
{
    if (f->configured)
        f->cleanup(f->stage);
    f->configured = 0;
    fx_stop(f);
}

/* Runs the stage's handler on value as the loop would. */
static inline int fx_handle(ds_handler_fn handle, void *stage, json_t *value,
                            json_t **out, ds_err *err)
{
    ds_msg msg = fx_msg(value);

    *out = NULL;
    ds_err_clear(err);
    return handle(stage, &msg, out, err);
}

/* Runs the stage's handler on the JSON message in the file at path. */
static inline int fx_handle_file(ds_handler_fn handle, void *stage,
                                 const char *path, json_t **out, ds_err *err)
{
    json_t *value = fx_load_json(path);
    int rc = fx_handle(handle, stage, value, out, err);

    json_decref(value);
    return rc;
}

#endif
