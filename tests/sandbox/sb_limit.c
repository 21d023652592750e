/* sb_limit.c - fixed-window rate limits; see sb_limit.h. */
#include "sb_limit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ds_time.h"

/* One API's current window. */
typedef struct window {
    int64_t start_ms;
    long window_ms;  /* a change of rule starts a fresh window */
    long used;
    long refused;
} window;

struct sb_limit {
    pthread_mutex_t lock;
    window w[SB_API_COUNT];
};

sb_limit *sb_limit_new(void)
{
    sb_limit *l = calloc(1, sizeof(*l));

    if (l != NULL && pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

void sb_limit_free(sb_limit *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void add_long(sb_headers *h, const char *name, long long v)
{
    char text[32];

    snprintf(text, sizeof(text), "%lld", v);
    sb_headers_add(h, name, text);
}

/* Retry-After as an IMF-fixdate no earlier than the window's end: the
 * end rounded up to a whole second. */
static void add_retry_date(sb_headers *h, int64_t end_ms)
{
    char date[40];

    if (ds_time_format_utc((time_t)((end_ms + 999) / 1000),
                           "%a, %d %b %Y %H:%M:%S GMT", date,
                           sizeof(date)) == 0)
        sb_headers_add(h, "Retry-After", date);
}

/* The headers of style for a request that left remaining requests in a
 * window ending reset_ms from now; over when it was refused. */
static void add_headers(sb_headers *h, const sb_rate_rule *rule,
                        long remaining, int64_t reset_ms, int64_t end_ms,
                        int over)
{
    long long reset_s = (reset_ms + 999) / 1000;
    char text[160];

    switch (rule->style) {
    case SB_STYLE_X_RATELIMIT:
        add_long(h, "X-RateLimit-Limit", rule->requests);
        add_long(h, "X-RateLimit-Remaining", remaining);
        add_long(h, "X-RateLimit-Reset", reset_ms);
        break;
    case SB_STYLE_RATELIMIT:
        snprintf(text, sizeof(text), "\"default\";q=%ld;w=%ld",
                 rule->requests, (rule->window_ms + 999) / 1000);
        sb_headers_add(h, "RateLimit-Policy", text);
        snprintf(text, sizeof(text), "\"default\";r=%ld;t=%lld", remaining,
                 reset_s);
        sb_headers_add(h, "RateLimit", text);
        break;
    case SB_STYLE_RETRY_SECONDS:
        if (over)
            add_long(h, "Retry-After", reset_s > 0 ? reset_s : 1);
        break;
    case SB_STYLE_RETRY_DATE:
        if (over)
            add_retry_date(h, end_ms);
        break;
    }
}

int sb_limit_take(sb_limit *l, sb_api api, const sb_rate_rule *rule,
                  int64_t now_ms, sb_headers *h)
{
    int64_t start = now_ms - now_ms % rule->window_ms;
    int64_t end = start + rule->window_ms;
    window *w = &l->w[api];
    long remaining;
    int over;

    pthread_mutex_lock(&l->lock);
    if (w->start_ms != start || w->window_ms != rule->window_ms) {
        w->start_ms = start;
        w->window_ms = rule->window_ms;
        w->used = 0;
    }
    over = w->used >= rule->requests;
    if (over)
        w->refused++;
    else
        w->used++;
    remaining = rule->requests - w->used;
    pthread_mutex_unlock(&l->lock);

    add_headers(h, rule, remaining, end - now_ms, end, over);
    return over;
}

void sb_limit_refused(sb_limit *l, long over[SB_API_COUNT])
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < SB_API_COUNT; i++)
        over[i] = l->w[i].refused;
    pthread_mutex_unlock(&l->lock);
}

void sb_limit_reset(sb_limit *l)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < SB_API_COUNT; i++)
        l->w[i].refused = 0;
    pthread_mutex_unlock(&l->lock);
}
