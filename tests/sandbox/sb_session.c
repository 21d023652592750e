/* sb_session.c - chunked upload sessions; see sb_session.h. */
#include "sb_session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One live session. */
typedef struct session {
    sb_session_info info;    /* info.expired: its file has been removed */
    int busy;                /* held by a request */
    struct session *next;
} session;

struct sb_sessions {
    pthread_mutex_t lock;
    pthread_cond_t idle;     /* broadcast whenever a session is let go */
    const char *data_dir;
    session *head;           /* in the order they were started */
    json_t *done;            /* sessionId -> fingerprint fields */
    unsigned long next_id;   /* survives resets */
    long part_puts;
    long completed;
};

void sb_session_info_clear(sb_session_info *info)
{
    json_decref(info->fields);
    memset(info, 0, sizeof(*info));
}

sb_sessions *sb_sessions_new(const char *data_dir)
{
    sb_sessions *ss = calloc(1, sizeof(*ss));

    if (ss == NULL)
        return NULL;
    ss->done = json_object();
    if (ss->done == NULL || pthread_mutex_init(&ss->lock, NULL) != 0) {
        json_decref(ss->done);
        free(ss);
        return NULL;
    }
    if (pthread_cond_init(&ss->idle, NULL) != 0) {
        pthread_mutex_destroy(&ss->lock);
        json_decref(ss->done);
        free(ss);
        return NULL;
    }
    ss->data_dir = data_dir;
    ss->next_id = 1;
    return ss;
}

static void session_free(session *s)
{
    if (!s->info.expired)
        unlink(s->info.path);
    sb_session_info_clear(&s->info);
    free(s);
}

/* Forgets every session. Called with the lock held. */
static void drop_all(sb_sessions *ss)
{
    while (ss->head != NULL) {
        session *s = ss->head;

        ss->head = s->next;
        session_free(s);
    }
}

void sb_sessions_free(sb_sessions *ss)
{
    if (ss == NULL)
        return;
    drop_all(ss);
    json_decref(ss->done);
    pthread_cond_destroy(&ss->idle);
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}

/* Copies s into out, fields deep-copied. Called with the lock held. */
static int copy_info(const session *s, sb_session_info *out)
{
    *out = s->info;
    out->fields = json_deep_copy(s->info.fields);
    return out->fields != NULL ? 0 : -1;
}

int sb_sessions_start(sb_sessions *ss, const char *transaction_id,
                      json_t *fields, uint64_t size, uint64_t part_size,
                      int64_t expires_ms, sb_session_info *out, ds_err *err)
{
    session *s = calloc(1, sizeof(*s)), **tail;
    int fd;

    memset(out, 0, sizeof(*out));
    if (s == NULL || (s->info.fields = json_deep_copy(fields)) == NULL) {
        free(s);
        return ds_err_set(err, "oom", "out of memory");
    }
    snprintf(s->info.transaction_id, sizeof(s->info.transaction_id), "%s",
             transaction_id);
    s->info.size = size;
    s->info.part_size = part_size;
    s->info.total_parts = size / part_size + (size % part_size != 0);
    s->info.expires_ms = expires_ms;

    pthread_mutex_lock(&ss->lock);
    snprintf(s->info.id, sizeof(s->info.id), "us_%lu", ss->next_id++);
    snprintf(s->info.path, sizeof(s->info.path), "%s/.session-%s",
             ss->data_dir, s->info.id);
    fd = open(s->info.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || copy_info(s, out) != 0) {
        ds_err_set(err, "store_failed", "%s: %s", s->info.path,
                   fd < 0 ? strerror(errno) : "out of memory");
        if (fd >= 0)
            unlink(s->info.path);
        s->info.expired = 1; /* no file to remove */
        session_free(s);
        s = NULL;
    } else {
        for (tail = &ss->head; *tail != NULL; tail = &(*tail)->next)
            ;
        *tail = s;
    }
    pthread_mutex_unlock(&ss->lock);
    if (fd >= 0)
        close(fd);
    return s != NULL ? 0 : -1;
}

/* The session id, or NULL. Called with the lock held. */
static session *find(sb_sessions *ss, const char *id)
{
    for (session *s = ss->head; s != NULL; s = s->next)
        if (strcmp(s->info.id, id) == 0)
            return s;
    return NULL;
}

/* Marks s expired when its time has come, removing its file unless a
 * request holds it (it is then removed at a later look). Called with the
 * lock held. */
static int expired(session *s, int64_t now_ms)
{
    if (now_ms < s->info.expires_ms)
        return 0;
    if (!s->info.expired && !s->busy) {
        unlink(s->info.path);
        s->info.expired = 1;
    }
    return 1;
}

/* Looks id up and copies it, holding it when hold is set. */
static sb_session_found look(sb_sessions *ss, const char *id,
                             int64_t now_ms, int hold, sb_session_info *out)
{
    sb_session_found found = SB_SESSION_OK;
    session *s;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ss->lock);
    while ((s = find(ss, id)) != NULL && hold && s->busy)
        pthread_cond_wait(&ss->idle, &ss->lock);
    if (s == NULL)
        found = SB_SESSION_UNKNOWN;
    else if (expired(s, now_ms))
        found = SB_SESSION_EXPIRED;
    /* Out of memory: as good as unknown to the caller, who answers. */
    else if (copy_info(s, out) != 0)
        found = SB_SESSION_UNKNOWN;
    else if (hold)
        s->busy = 1;
    pthread_mutex_unlock(&ss->lock);
    return found;
}

sb_session_found sb_sessions_peek(sb_sessions *ss, const char *id,
                                  int64_t now_ms, sb_session_info *out)
{
    return look(ss, id, now_ms, 0, out);
}

sb_session_found sb_sessions_acquire(sb_sessions *ss, const char *id,
                                     int64_t now_ms, sb_session_info *out)
{
    return look(ss, id, now_ms, 1, out);
}

void sb_sessions_release(sb_sessions *ss, const char *id,
                         uint64_t part_number)
{
    session *s;

    pthread_mutex_lock(&ss->lock);
    s = find(ss, id);
    if (s != NULL) {
        s->busy = 0;
        if (part_number != 0) {
            s->info.part_puts++;
            ss->part_puts++;
            if (part_number == s->info.received + 1)
                s->info.received++;
        }
        pthread_cond_broadcast(&ss->idle);
    }
    pthread_mutex_unlock(&ss->lock);
}

void sb_sessions_finish(sb_sessions *ss, const char *id, json_t *done)
{
    session **at, *s = NULL;

    pthread_mutex_lock(&ss->lock);
    for (at = &ss->head; *at != NULL; at = &(*at)->next) {
        if (strcmp((*at)->info.id, id) == 0) {
            s = *at;
            *at = s->next;
            break;
        }
    }
    if (s != NULL && done != NULL) {
        ss->completed++;
        json_object_set(ss->done, id, done);
    }
    if (s != NULL)
        pthread_cond_broadcast(&ss->idle);
    pthread_mutex_unlock(&ss->lock);
    if (s != NULL)
        session_free(s);
    json_decref(done);
}

json_t *sb_sessions_done(sb_sessions *ss, const char *id)
{
    json_t *copy;

    pthread_mutex_lock(&ss->lock);
    copy = json_deep_copy(json_object_get(ss->done, id));
    pthread_mutex_unlock(&ss->lock);
    return copy;
}

int sb_sessions_expire(sb_sessions *ss, const char *id, int64_t now_ms,
                       json_t *ids)
{
    int matched = 0;

    pthread_mutex_lock(&ss->lock);
    for (session *s = ss->head; s != NULL; s = s->next) {
        if (id != NULL && strcmp(s->info.id, id) != 0)
            continue;
        matched = 1;
        if (s->info.expires_ms > now_ms)
            s->info.expires_ms = now_ms;
        expired(s, now_ms);
        json_array_append_new(ids, json_string(s->info.id));
    }
    pthread_mutex_unlock(&ss->lock);
    return id == NULL || matched ? 0 : -1;
}

/* One session of the admin listing. Called with the lock held. */
static json_t *session_json(session *s, int64_t now_ms)
{
    const sb_session_info *i = &s->info;
    int gone = expired(s, now_ms);

    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b}", "sessionId",
                     i->id, "transactionId", i->transaction_id, "size",
                     (json_int_t)i->size, "partSize",
                     (json_int_t)i->part_size, "totalParts",
                     (json_int_t)i->total_parts, "receivedParts",
                     (json_int_t)i->received, "partPuts",
                     (json_int_t)i->part_puts, "expired", gone);
}

json_t *sb_sessions_list(sb_sessions *ss, int64_t now_ms)
{
    json_t *list = json_array(), *out = NULL;
    int ok = list != NULL;

    pthread_mutex_lock(&ss->lock);
    for (session *s = ss->head; ok && s != NULL; s = s->next)
        ok = json_array_append_new(list, session_json(s, now_ms)) == 0;
    if (ok)
        out = json_pack("{s:O,s:I,s:I}", "sessions", list, "partPuts",
                        (json_int_t)ss->part_puts, "completed",
                        (json_int_t)ss->completed);
    pthread_mutex_unlock(&ss->lock);
    json_decref(list);
    return out;
}

void sb_sessions_reset(sb_sessions *ss)
{
    pthread_mutex_lock(&ss->lock);
    drop_all(ss);
    json_object_clear(ss->done);
    ss->part_puts = 0;
    ss->completed = 0;
    /* Waiting requests find their session gone. */
    pthread_cond_broadcast(&ss->idle);
    pthread_mutex_unlock(&ss->lock);
}
