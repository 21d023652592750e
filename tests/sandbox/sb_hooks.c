/* sb_hooks.c - webhook retries and duplicates; see sb_hooks.h. */
#include "sb_hooks.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sb_log.h"

/* A duplicate follows its original shortly, like a redelivery would. */
#define DUPLICATE_DELAY_MS 50L

typedef struct job {
    char *body;
    char *signature;        /* NULL: signed with the secret */
    char event_id[SB_ID_MAX + 1];
    char document_id[SB_ID_MAX + 1];
    size_t next_retry;      /* index into the retry delays */
    int duplicate;          /* a duplicate is sent once, never retried */
    int attempt;            /* for the log: 1 was the caller's */
    int64_t due_ms;         /* monotonic */
    struct job *next;
} job;

struct sb_hooks {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    job *jobs;              /* unordered; the thread picks the earliest */
    const sb_webhook_target *target;
    sb_config *cfg;
    struct drand48_data rng;
};

static int64_t mono_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void job_free(job *j)
{
    if (j == NULL)
        return;
    free(j->body);
    free(j->signature);
    free(j);
}

/* Queues a copy of tmpl due in delay_ms and wakes the thread. Called with
 * the lock held; a job that cannot be copied is dropped with a log
 * line. */
static void enqueue(sb_hooks *h, const job *tmpl, long delay_ms)
{
    job *j = calloc(1, sizeof(*j));

    if (j != NULL) {
        *j = *tmpl;
        j->body = strdup(tmpl->body);
        j->signature = tmpl->signature ? strdup(tmpl->signature) : NULL;
    }
    if (j == NULL || j->body == NULL ||
        (tmpl->signature != NULL && j->signature == NULL)) {
        job_free(j);
        sb_log_msg("warn", "webhook retry dropped: out of memory", NULL);
        return;
    }
    j->due_ms = mono_ms() + delay_ms;
    j->next = h->jobs;
    h->jobs = j;
    pthread_cond_signal(&h->wake);
}

/* Queues what follows a send of j that answered status, per the current
 * configuration. Called with the lock held. */
static void follow_up(sb_hooks *h, const job *j, int status)
{
    sb_webhook_cfg w;
    job next = *j;
    double draw;

    if (j->duplicate)
        return;
    sb_config_webhooks(h->cfg, &w);
    next.attempt = j->attempt + 1;
    if (status < 200 || status > 299) {
        if (j->next_retry >= w.n)
            return;
        next.next_retry = j->next_retry + 1;
        enqueue(h, &next, w.delays_ms[j->next_retry]);
        return;
    }
    drand48_r(&h->rng, &draw);
    if (draw < w.duplicate_rate) {
        next.duplicate = 1;
        enqueue(h, &next, DUPLICATE_DELAY_MS);
    }
}

/* Takes the earliest job due by now out of the queue, or NULL; *wait_ms
 * gets how long until the next one (-1 when none). Called with the lock
 * held. */
static job *take_due(sb_hooks *h, long *wait_ms)
{
    job **best = NULL, *j;
    int64_t now = mono_ms();

    for (job **p = &h->jobs; *p != NULL; p = &(*p)->next)
        if (best == NULL || (*p)->due_ms < (*best)->due_ms)
            best = p;
    *wait_ms = best != NULL ? (long)((*best)->due_ms - now) : -1;
    if (best == NULL || (*best)->due_ms > now)
        return NULL;
    j = *best;
    *best = j->next;
    return j;
}

static void wait_ms_locked(sb_hooks *h, long ms)
{
    struct timespec until;

    if (ms < 0) {
        pthread_cond_wait(&h->wake, &h->lock);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->wake, &h->lock, &until);
}

/* Sends j without the lock and logs it; returns the status. */
static int send_job(sb_hooks *h, const job *j)
{
    int status = sb_webhook_post(h->target, j->body, strlen(j->body),
                                 j->signature);

    sb_log_msg(status >= 200 && status < 300 ? "info" : "warn",
               "webhook sent",
               json_pack("{s:s,s:s,s:i,s:i,s:b}", "eventId", j->event_id,
                         "documentId", j->document_id, "attempt",
                         j->attempt, "status", status, "duplicate",
                         j->duplicate));
    return status;
}

static void *run(void *arg)
{
    sb_hooks *h = arg;

    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        long wait;
        job *j = take_due(h, &wait);
        int status;

        if (j == NULL) {
            wait_ms_locked(h, wait);
            continue;
        }
        pthread_mutex_unlock(&h->lock);
        status = send_job(h, j);
        pthread_mutex_lock(&h->lock);
        if (!h->stopping)
            follow_up(h, j, status);
        job_free(j);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static int init_sync(sb_hooks *h)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&h->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        pthread_cond_destroy(&h->wake);
        return -1;
    }
    return 0;
}

sb_hooks *sb_hooks_new(const sb_webhook_target *target, sb_config *cfg)
{
    sb_hooks *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    if (init_sync(h) != 0) {
        free(h);
        return NULL;
    }
    h->target = target;
    h->cfg = cfg;
    srand48_r((long)mono_ms() ^ (long)time(NULL), &h->rng);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    return h;
}

void sb_hooks_clear(sb_hooks *h)
{
    pthread_mutex_lock(&h->lock);
    while (h->jobs != NULL) {
        job *j = h->jobs;

        h->jobs = j->next;
        job_free(j);
    }
    pthread_mutex_unlock(&h->lock);
}

void sb_hooks_free(sb_hooks *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    sb_hooks_clear(h);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void sb_hooks_after(sb_hooks *h, const char *body, const char *signature,
                    const char *event_id, const char *document_id,
                    int status)
{
    job first;

    memset(&first, 0, sizeof(first));
    first.body = (char *)body;
    first.signature = (char *)signature;
    snprintf(first.event_id, sizeof(first.event_id), "%s", event_id);
    snprintf(first.document_id, sizeof(first.document_id), "%s",
             document_id);
    first.attempt = 1;
    pthread_mutex_lock(&h->lock);
    follow_up(h, &first, status);
    pthread_mutex_unlock(&h->lock);
}
