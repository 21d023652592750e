/* sb_chaos.c - random faults for a chaos test; see sb_chaos.h. */
#include "sb_chaos.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The statuses a 5xx fault picks from, as a flaky gateway would give. */
static const int statuses_5xx[] = {500, 502, 503};

static const char *const kind_names[SB_CHAOS_KINDS] = {
    NULL, "5xx", "hang", "reset", "reset_after_store", "429", "lost",
    "corrupted"
};

/* What GET /admin/chaos reports besides the settings. */
typedef struct chaos_counts {
    long injected[SB_FAULT_NONE][SB_CHAOS_KINDS];
    long in_flight[SB_FAULT_NONE];
    long max_in_flight[SB_FAULT_NONE];
} chaos_counts;

struct sb_chaos {
    pthread_mutex_t lock;
    sb_chaos_settings set;
    uint64_t rng;                 /* splitmix64 state */
    struct timespec since;        /* when the settings were made */
    chaos_counts n;
};

/* splitmix64: small, fast, and good enough to pick faults. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1): rate 0 never hits, rate 1 always does. */
static double next_unit(uint64_t *state)
{
    return (double)(next_u64(state) >> 11) * 0x1.0p-53;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000 +
           (b->tv_nsec - a->tv_nsec) / 1000000;
}

void sb_chaos_settings_init(sb_chaos_settings *s)
{
    struct timespec now;

    memset(s, 0, sizeof(*s));
    s->all_routes = 1;
    s->hang_ms = SB_CHAOS_DEFAULT_HANG_MS;
    s->burst.retry_after_s = SB_CHAOS_DEFAULT_RETRY_AFTER_S;
    clock_gettime(CLOCK_REALTIME, &now);
    /* 48 bits: short enough to read and to type back in. */
    s->seed = ((uint64_t)now.tv_sec * 1000000007ULL ^
               (uint64_t)now.tv_nsec ^ (uint64_t)getpid() << 32) &
              0xffffffffffffULL;
}

/* The routes as given: "*" or the list of names. */
static json_t *routes_json(const sb_chaos_settings *s)
{
    json_t *list;

    if (s->all_routes)
        return json_string("*");
    list = json_array();
    for (int r = 0; list != NULL && r < SB_FAULT_NONE; r++)
        if (s->routes[r] &&
            json_array_append_new(list, json_string(sb_fault_route_name(
                                            (sb_fault_route)r))) != 0) {
            json_decref(list);
            return NULL;
        }
    return list;
}

static json_t *burst_json(const sb_chaos_burst *b)
{
    if (b->every_ms == 0)
        return json_null();
    return json_pack("{s:I,s:I,s:I}", "everyMs", (json_int_t)b->every_ms,
                     "lengthMs", (json_int_t)b->length_ms, "retryAfterS",
                     (json_int_t)b->retry_after_s);
}

json_t *sb_chaos_settings_json(const sb_chaos_settings *s)
{
    return json_pack("{s:o,s:f,s:f,s:I,s:f,s:o,s:f,s:f,s:I}",
                     "routes", routes_json(s),
                     "rate5xx", s->rate_5xx,
                     "rateHang", s->rate_hang,
                     "hangMs", (json_int_t)s->hang_ms,
                     "rateReset", s->rate_reset,
                     "burst429", burst_json(&s->burst),
                     "txLoseRate", s->tx_lose_rate,
                     "txCorruptRate", s->tx_corrupt_rate,
                     "seed", (json_int_t)s->seed);
}

const char *sb_chaos_kind_name(sb_chaos_kind kind)
{
    return kind < SB_CHAOS_KINDS ? kind_names[kind] : NULL;
}

sb_chaos *sb_chaos_new(void)
{
    sb_chaos *ch = calloc(1, sizeof(*ch));

    if (ch == NULL)
        return NULL;
    if (pthread_mutex_init(&ch->lock, NULL) != 0) {
        free(ch);
        return NULL;
    }
    sb_chaos_settings_init(&ch->set);
    ch->rng = ch->set.seed;
    clock_gettime(CLOCK_MONOTONIC, &ch->since);
    return ch;
}

void sb_chaos_free(sb_chaos *ch)
{
    if (ch == NULL)
        return;
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

/* Takes new settings. Called with the lock held. */
static void apply_settings(sb_chaos *ch, const sb_chaos_settings *s)
{
    ch->set = *s;
    ch->rng = s->seed;
    clock_gettime(CLOCK_MONOTONIC, &ch->since);
}

void sb_chaos_set(sb_chaos *ch, const sb_chaos_settings *s)
{
    pthread_mutex_lock(&ch->lock);
    apply_settings(ch, s);
    pthread_mutex_unlock(&ch->lock);
}

void sb_chaos_reset(sb_chaos *ch)
{
    sb_chaos_settings off;

    sb_chaos_settings_init(&off);
    pthread_mutex_lock(&ch->lock);
    apply_settings(ch, &off);
    memset(ch->n.injected, 0, sizeof(ch->n.injected));
    memcpy(ch->n.max_in_flight, ch->n.in_flight,
           sizeof(ch->n.max_in_flight));
    pthread_mutex_unlock(&ch->lock);
}

/* True while a burst window is open. Called with the lock held. */
static int in_burst(const sb_chaos *ch)
{
    const sb_chaos_burst *b = &ch->set.burst;
    struct timespec now;
    long elapsed;

    if (b->every_ms <= 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed = ms_between(&ch->since, &now);
    return elapsed >= b->every_ms && elapsed % b->every_ms < b->length_ms;
}

/* True for the routes whose handler stores something: an upload, a
 * session started, a part written, a session completed. */
static int stores(sb_fault_route route)
{
    return route == SB_FAULT_TX_UPLOAD ||
           route == SB_FAULT_TX_SESSION_START ||
           route == SB_FAULT_TX_SESSION_PART ||
           route == SB_FAULT_TX_SESSION_COMPLETE;
}

/* Draws the random fault of a request of route outside a burst. Called
 * with the lock held. */
static void draw(sb_chaos *ch, sb_fault_route route, sb_chaos_fault *out)
{
    const sb_chaos_settings *s = &ch->set;
    double u = next_unit(&ch->rng);

    if (u < s->rate_5xx) {
        out->kind = SB_CHAOS_5XX;
        out->status = statuses_5xx[next_u64(&ch->rng) % 3];
    } else if (u < s->rate_5xx + s->rate_hang) {
        out->kind = SB_CHAOS_HANG;
        out->hang_ms = s->hang_ms;
    } else if (u < s->rate_5xx + s->rate_hang + s->rate_reset) {
        /* Half the resets of a request that stores something come after
         * it is stored: the answer is lost, the document (the session,
         * the part) is not. */
        out->kind = stores(route) && next_u64(&ch->rng) & 1
                        ? SB_CHAOS_RESET_AFTER
                        : SB_CHAOS_RESET;
    }
}

void sb_chaos_decide(sb_chaos *ch, sb_fault_route route,
                     sb_chaos_fault *out)
{
    memset(out, 0, sizeof(*out));
    if (route >= SB_FAULT_NONE)
        return;
    pthread_mutex_lock(&ch->lock);
    if (!ch->set.all_routes && !ch->set.routes[route])
        goto out;
    if (in_burst(ch)) {
        out->kind = SB_CHAOS_429;
        out->status = 429;
        out->retry_after_s = ch->set.burst.retry_after_s;
    } else {
        draw(ch, route, out);
    }
    ch->n.injected[route][out->kind]++;

out:
    pthread_mutex_unlock(&ch->lock);
}

sb_chaos_kind sb_chaos_upload_fate(sb_chaos *ch, uint64_t *pick)
{
    sb_chaos_kind fate = SB_CHAOS_NONE;

    pthread_mutex_lock(&ch->lock);
    /* A rate of 0 draws nothing, so that turning the upload faults on
     * does not change which requests the other faults hit. */
    if (ch->set.tx_lose_rate > 0.0 &&
        next_unit(&ch->rng) < ch->set.tx_lose_rate)
        fate = SB_CHAOS_LOST;
    else if (ch->set.tx_corrupt_rate > 0.0 &&
             next_unit(&ch->rng) < ch->set.tx_corrupt_rate)
        fate = SB_CHAOS_CORRUPTED;
    *pick = fate == SB_CHAOS_CORRUPTED ? next_u64(&ch->rng) : 0;
    pthread_mutex_unlock(&ch->lock);
    return fate;
}

void sb_chaos_count(sb_chaos *ch, sb_fault_route route, sb_chaos_kind kind)
{
    if (route >= SB_FAULT_NONE || kind == SB_CHAOS_NONE ||
        kind >= SB_CHAOS_KINDS)
        return;
    pthread_mutex_lock(&ch->lock);
    ch->n.injected[route][kind]++;
    pthread_mutex_unlock(&ch->lock);
}

void sb_chaos_enter(sb_chaos *ch, sb_fault_route route)
{
    if (route >= SB_FAULT_NONE)
        return;
    pthread_mutex_lock(&ch->lock);
    if (++ch->n.in_flight[route] > ch->n.max_in_flight[route])
        ch->n.max_in_flight[route] = ch->n.in_flight[route];
    pthread_mutex_unlock(&ch->lock);
}

void sb_chaos_leave(sb_chaos *ch, sb_fault_route route)
{
    if (route >= SB_FAULT_NONE)
        return;
    pthread_mutex_lock(&ch->lock);
    ch->n.in_flight[route]--;
    pthread_mutex_unlock(&ch->lock);
}

/* The injected faults of one route, or their sums, as JSON. */
static json_t *counts_json(const long c[SB_CHAOS_KINDS])
{
    long total = 0;

    for (int k = SB_CHAOS_NONE + 1; k < SB_CHAOS_KINDS; k++)
        total += c[k];
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "5xx", (json_int_t)c[SB_CHAOS_5XX],
                     "hang", (json_int_t)c[SB_CHAOS_HANG],
                     "reset", (json_int_t)(c[SB_CHAOS_RESET] +
                                           c[SB_CHAOS_RESET_AFTER]),
                     "resetAfterStore", (json_int_t)c[SB_CHAOS_RESET_AFTER],
                     "429", (json_int_t)c[SB_CHAOS_429],
                     "lost", (json_int_t)c[SB_CHAOS_LOST],
                     "corrupted", (json_int_t)c[SB_CHAOS_CORRUPTED],
                     "total", (json_int_t)total);
}

/* route name -> n for each route, from values. */
static json_t *per_route_json(const long values[SB_FAULT_NONE])
{
    json_t *obj = json_object();

    for (int r = 0; obj != NULL && r < SB_FAULT_NONE; r++)
        if (json_object_set_new(obj, sb_fault_route_name((sb_fault_route)r),
                                json_integer(values[r])) != 0) {
            json_decref(obj);
            return NULL;
        }
    return obj;
}

/* The report of GET /admin/chaos from copies taken under the lock. */
static json_t *report_json(const sb_chaos_settings *set,
                           const chaos_counts *n)
{
    long all[SB_CHAOS_KINDS] = {0};
    json_t *by_route = json_object();

    for (int r = 0; by_route != NULL && r < SB_FAULT_NONE; r++) {
        for (int k = 0; k < SB_CHAOS_KINDS; k++)
            all[k] += n->injected[r][k];
        if (json_object_set_new(by_route,
                                sb_fault_route_name((sb_fault_route)r),
                                counts_json(n->injected[r])) != 0) {
            json_decref(by_route);
            by_route = NULL;
        }
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o}",
                     "settings", sb_chaos_settings_json(set),
                     "injected", counts_json(all),
                     "byRoute", by_route,
                     "maxInFlight", per_route_json(n->max_in_flight),
                     "inFlight", per_route_json(n->in_flight));
}

json_t *sb_chaos_report(sb_chaos *ch)
{
    sb_chaos_settings set;
    chaos_counts n;

    /* Copied first so that no JSON is built under the lock. */
    pthread_mutex_lock(&ch->lock);
    set = ch->set;
    n = ch->n;
    pthread_mutex_unlock(&ch->lock);
    return report_json(&set, &n);
}
