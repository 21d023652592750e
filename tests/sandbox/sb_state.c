/* sb_state.c - everything the sandbox remembers; see sb_state.h. */
#include "sb_state.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One queued fault and how many more requests it applies to. */
typedef struct fault_node {
    sb_fault fault;
    long remaining;
    struct fault_node *next;
} fault_node;

struct sb_state {
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* signalled by sb_state_stop */
    int stopping;
    char *data_dir;
    json_t *transactions;    /* id -> true, or NULL: every id exists */
    json_t *crm;             /* id -> record, with the private "path" */
    json_t *tx;              /* id -> record, with the private "storedPath" */
    json_t *uploads;         /* sourceDocumentId -> count */
    json_t *replays;         /* sourceDocumentId -> count of replays */
    json_t *lost;            /* sourceDocumentId -> uploads lost by chaos */
    json_t *corrupted;       /* sourceDocumentId -> uploads corrupted */
    json_t *accounts;        /* accountId -> [transactionId, ...] */
    json_t *idem;            /* Idempotency-Key -> {"claim"} while in
                              * progress, {"fingerprint","status","body"}
                              * once completed */
    unsigned long next_claim; /* survives resets: a stale claim never
                               * matches a new one */
    fault_node *faults[SB_FAULT_NONE];
    unsigned long next_doc;
    unsigned long next_tdoc;
    unsigned long next_evt;
};

static const char *const fault_names[SB_FAULT_NONE] = {
    "crm_meta", "crm_content", "tx_upload", "tx_get", "tx_search",
    "crm_list", "tx_accounts", "tx_session_start", "tx_session_part",
    "tx_session_complete", "tx_session_get"
};

sb_fault_route sb_fault_route_parse(const char *name)
{
    for (int i = 0; i < SB_FAULT_NONE; i++)
        if (name != NULL && strcmp(name, fault_names[i]) == 0)
            return (sb_fault_route)i;
    return SB_FAULT_NONE;
}

const char *sb_fault_route_name(sb_fault_route route)
{
    return route < SB_FAULT_NONE ? fault_names[route] : NULL;
}

void sb_fault_clear(sb_fault *f)
{
    if (f == NULL)
        return;
    free(f->body);
    memset(f, 0, sizeof(*f));
}

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir, ds_err *err)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path))
        return ds_err_set(err, "bad_data_dir",
                          "data dir is empty or too long");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return ds_err_set(err, "bad_data_dir",
                              "mkdir %s: %s", path, strerror(errno));
        path[i] = i < len ? '/' : '\0';
    }
    return 0;
}

/* The id of one entry of the transactions file: a string, or an object
 * with an "id" string (the form scripts/stack/transactions.json uses). */
static const char *transaction_id(json_t *item)
{
    if (json_is_object(item))
        item = json_object_get(item, "id");
    return json_string_value(item);
}

/* Reads {"transactions":["txn_1",...]} into an id -> true object. */
static json_t *load_transactions(const char *file, ds_err *err)
{
    json_error_t jerr;
    json_t *doc = json_load_file(file, 0, &jerr);
    json_t *set = json_object();
    json_t *list, *item;
    size_t i;

    if (doc == NULL || set == NULL) {
        ds_err_set(err, "bad_transactions_file",
                   "%s: %s", file, doc == NULL ? jerr.text : "out of memory");
        goto fail;
    }
    list = json_object_get(doc, "transactions");
    if (!json_is_array(list)) {
        ds_err_set(err, "bad_transactions_file",
                   "%s: no \"transactions\" array", file);
        goto fail;
    }
    json_array_foreach(list, i, item) {
        const char *id = transaction_id(item);

        if (id == NULL || json_object_set_new(set, id, json_true()) != 0) {
            ds_err_set(err, "bad_transactions_file",
                       "%s: item %zu has no id", file, i);
            goto fail;
        }
    }
    json_decref(doc);
    return set;

fail:
    json_decref(doc);
    json_decref(set);
    return NULL;
}

static int init_sync(sb_state *st)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return -1;
    /* Sleeps are measured on the monotonic clock: a clock step must not
     * turn a 2 s hang into an hour. */
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&st->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        pthread_cond_destroy(&st->wake);
        return -1;
    }
    return 0;
}

sb_state *sb_state_new(const char *data_dir, const char *transactions_file,
                       ds_err *err)
{
    sb_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        ds_err_set(err, "oom", "out of memory");
        return NULL;
    }
    if (init_sync(st) != 0) {
        ds_err_set(err, "oom", "cannot create mutex");
        free(st);
        return NULL;
    }
    st->next_doc = st->next_tdoc = st->next_evt = st->next_claim = 1;
    st->crm = json_object();
    st->tx = json_object();
    st->uploads = json_object();
    st->replays = json_object();
    st->lost = json_object();
    st->corrupted = json_object();
    st->idem = json_object();
    st->accounts = json_object();
    if (st->accounts == NULL ||
        st->crm == NULL || st->tx == NULL || st->uploads == NULL ||
        st->replays == NULL || st->lost == NULL || st->corrupted == NULL ||
        st->idem == NULL) {
        ds_err_set(err, "oom", "out of memory");
        goto fail;
    }
    if (make_dirs(data_dir, err) != 0)
        goto fail;
    /* Absolute, so that storedPath in the admin API works from anywhere. */
    st->data_dir = realpath(data_dir, NULL);
    if (st->data_dir == NULL) {
        ds_err_set(err, "bad_data_dir", "%s: %s",
                   data_dir, strerror(errno));
        goto fail;
    }
    if (transactions_file != NULL) {
        st->transactions = load_transactions(transactions_file, err);
        if (st->transactions == NULL)
            goto fail;
    }
    return st;

fail:
    sb_state_free(st);
    return NULL;
}

static void faults_free(sb_state *st)
{
    for (int i = 0; i < SB_FAULT_NONE; i++) {
        while (st->faults[i] != NULL) {
            fault_node *n = st->faults[i];

            st->faults[i] = n->next;
            sb_fault_clear(&n->fault);
            free(n);
        }
    }
}

void sb_state_free(sb_state *st)
{
    if (st == NULL)
        return;
    faults_free(st);
    json_decref(st->transactions);
    json_decref(st->crm);
    json_decref(st->tx);
    json_decref(st->uploads);
    json_decref(st->replays);
    json_decref(st->lost);
    json_decref(st->corrupted);
    json_decref(st->idem);
    json_decref(st->accounts);
    free(st->data_dir);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const char *sb_state_data_dir(const sb_state *st)
{
    return st->data_dir;
}

long sb_state_transaction_count(const sb_state *st)
{
    if (st->transactions == NULL)
        return -1;
    return (long)json_object_size(st->transactions);
}

int sb_state_transaction_exists(sb_state *st, const char *transaction_id)
{
    /* The set is read-only after start, so no lock is needed. */
    if (st->transactions == NULL)
        return 1;
    return json_object_get(st->transactions, transaction_id) != NULL;
}

void sb_state_next_event_id(sb_state *st, char out[SB_ID_MAX + 1])
{
    pthread_mutex_lock(&st->lock);
    snprintf(out, SB_ID_MAX + 1, "evt_%lu", st->next_evt++);
    pthread_mutex_unlock(&st->lock);
}

int sb_state_crm_add(sb_state *st, const char *want_id, json_t *rec,
                     char out_id[SB_ID_MAX + 1])
{
    int rc = -1;

    pthread_mutex_lock(&st->lock);
    if (want_id != NULL) {
        if (json_object_get(st->crm, want_id) != NULL)
            goto out;
        snprintf(out_id, SB_ID_MAX + 1, "%s", want_id);
    } else {
        /* Skip ids that callers chose themselves. */
        do {
            snprintf(out_id, SB_ID_MAX + 1, "doc_%lu", st->next_doc++);
        } while (json_object_get(st->crm, out_id) != NULL);
    }
    if (json_object_set_new(rec, "id", json_string(out_id)) != 0 ||
        json_object_set(st->crm, out_id, rec) != 0)
        goto out;
    rc = 0;

out:
    pthread_mutex_unlock(&st->lock);
    json_decref(rec);
    return rc;
}

/* A deep copy of obj[id] under the lock, or NULL. */
static json_t *copy_member(sb_state *st, json_t *obj, const char *id)
{
    json_t *copy;

    pthread_mutex_lock(&st->lock);
    copy = json_deep_copy(json_object_get(obj, id));
    pthread_mutex_unlock(&st->lock);
    return copy;
}

json_t *sb_state_crm_get(sb_state *st, const char *id)
{
    return copy_member(st, st->crm, id);
}

json_t *sb_state_crm_all(sb_state *st)
{
    json_t *all = json_array();
    json_t *rec;
    const char *id;

    if (all == NULL)
        return NULL;
    pthread_mutex_lock(&st->lock);
    json_object_foreach(st->crm, id, rec) {
        if (json_array_append_new(all, json_deep_copy(rec)) != 0) {
            json_decref(all);
            all = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return all;
}

int sb_state_accounts_set(sb_state *st, const char *account, json_t *ids)
{
    int rc = 0;

    pthread_mutex_lock(&st->lock);
    if (json_array_size(ids) == 0)
        json_object_del(st->accounts, account);
    else
        rc = json_object_set(st->accounts, account, ids);
    pthread_mutex_unlock(&st->lock);
    json_decref(ids);
    return rc;
}

json_t *sb_state_accounts_get(sb_state *st, const char *account)
{
    json_t *ids = copy_member(st, st->accounts, account);

    return ids != NULL ? ids : json_array();
}

int sb_state_crm_delete(sb_state *st, const char *id)
{
    int rc;

    pthread_mutex_lock(&st->lock);
    rc = json_object_del(st->crm, id);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Adds one to counts[source]. Called with the lock held. */
static int count_one(json_t *counts, const char *source)
{
    json_int_t n = json_integer_value(json_object_get(counts, source));

    return json_object_set_new(counts, source, json_integer(n + 1));
}

/* Counts a stored upload of source, and its chaos flags. Called with the
 * lock held. */
static int count_upload(sb_state *st, json_t *rec, const char *source)
{
    if (source == NULL)
        return 0;
    if (count_one(st->uploads, source) != 0)
        return -1;
    if (json_is_true(json_object_get(rec, "lost")) &&
        count_one(st->lost, source) != 0)
        return -1;
    if (json_is_true(json_object_get(rec, "corrupted")) &&
        count_one(st->corrupted, source) != 0)
        return -1;
    return 0;
}

int sb_state_tx_add(sb_state *st, json_t *rec, const char *tmp_path,
                    char out_id[SB_ID_MAX + 1], ds_err *err)
{
    char stored[PATH_MAX];
    const char *source = json_string_value(
        json_object_get(rec, "sourceDocumentId"));
    int rc = -1;

    pthread_mutex_lock(&st->lock);
    snprintf(out_id, SB_ID_MAX + 1, "tdoc_%lu", st->next_tdoc++);
    if (snprintf(stored, sizeof(stored), "%s/%s", st->data_dir, out_id) >=
        (int)sizeof(stored)) {
        ds_err_set(err, "path_too_long",
                   "data dir path too long");
        goto out;
    }
    if (rename(tmp_path, stored) != 0) {
        ds_err_set(err, "store_failed", "rename: %s",
                   strerror(errno));
        goto out;
    }
    if (json_object_set_new(rec, "id", json_string(out_id)) != 0 ||
        json_object_set_new(rec, "storedPath", json_string(stored)) != 0 ||
        json_object_set(st->tx, out_id, rec) != 0 ||
        count_upload(st, rec, source) != 0) {
        unlink(stored);
        ds_err_set(err, "oom", "out of memory");
        goto out;
    }
    rc = 0;

out:
    pthread_mutex_unlock(&st->lock);
    json_decref(rec);
    return rc;
}

json_t *sb_state_tx_get(sb_state *st, const char *id)
{
    return copy_member(st, st->tx, id);
}

/* True when rec is a stored document of transaction_id and, when source
 * is not NULL, of that sourceDocumentId. */
static int record_matches(json_t *rec, const char *transaction_id,
                          const char *source)
{
    const char *txn = json_string_value(json_object_get(rec,
                                                        "transactionId"));
    const char *src = json_string_value(json_object_get(rec,
                                                        "sourceDocumentId"));

    if (txn == NULL || strcmp(txn, transaction_id) != 0)
        return 0;
    return source == NULL || (src != NULL && strcmp(src, source) == 0);
}

json_t *sb_state_tx_find(sb_state *st, const char *transaction_id,
                         const char *source)
{
    json_t *found = json_array();
    json_t *rec;
    const char *id;

    if (found == NULL)
        return NULL;
    pthread_mutex_lock(&st->lock);
    /* jansson keeps insertion order, which is the order of the tdoc_N. */
    json_object_foreach(st->tx, id, rec) {
        if (!record_matches(rec, transaction_id, source))
            continue;
        if (json_array_append_new(found, json_deep_copy(rec)) != 0) {
            json_decref(found);
            found = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return found;
}

/* The sum of the counts in counts. */
static json_int_t count_total(json_t *counts)
{
    json_int_t total = 0;
    const char *source;
    json_t *n;

    json_object_foreach(counts, source, n)
        total += json_integer_value(n);
    return total;
}

json_t *sb_state_tx_list(sb_state *st)
{
    json_t *docs = json_array();
    json_t *uploads = NULL, *replays = NULL, *lost = NULL;
    json_t *corrupted = NULL, *list = NULL;
    json_t *rec;
    const char *id;

    if (docs == NULL)
        return NULL;
    pthread_mutex_lock(&st->lock);
    json_object_foreach(st->tx, id, rec) {
        if (json_array_append_new(docs, json_deep_copy(rec)) != 0)
            break;
    }
    uploads = json_deep_copy(st->uploads);
    replays = json_deep_copy(st->replays);
    lost = json_deep_copy(st->lost);
    corrupted = json_deep_copy(st->corrupted);
    pthread_mutex_unlock(&st->lock);
    if (uploads != NULL && replays != NULL && lost != NULL &&
        corrupted != NULL)
        list = json_pack("{s:O,s:O,s:I,s:O,s:O,s:O}", "documents", docs,
                         "uploadsBySource", uploads, "idempotentReplays",
                         count_total(replays), "replaysBySource", replays,
                         "lostBySource", lost, "corruptedBySource",
                         corrupted);
    json_decref(docs);
    json_decref(uploads);
    json_decref(replays);
    json_decref(lost);
    json_decref(corrupted);
    return list;
}

sb_idem_claim sb_state_idem_claim(sb_state *st, const char *key,
                                  unsigned long *claim)
{
    json_t *entry;
    sb_idem_claim rc = SB_IDEM_FAILED;

    *claim = 0;
    pthread_mutex_lock(&st->lock);
    entry = json_object_get(st->idem, key);
    if (entry != NULL) {
        rc = json_object_get(entry, "claim") != NULL ? SB_IDEM_BUSY
                                                     : SB_IDEM_DONE;
        goto out;
    }
    entry = json_pack("{s:I}", "claim", (json_int_t)st->next_claim);
    if (entry == NULL || json_object_set_new(st->idem, key, entry) != 0)
        goto out;
    *claim = st->next_claim++;
    rc = SB_IDEM_CLAIMED;

out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* True when key is in progress under claim. Called with the lock held. */
static int claim_held(sb_state *st, const char *key, unsigned long claim)
{
    json_t *held = json_object_get(json_object_get(st->idem, key), "claim");

    return claim != 0 && held != NULL &&
           json_integer_value(held) == (json_int_t)claim;
}

int sb_state_idem_complete(sb_state *st, const char *key,
                           unsigned long claim, json_t *fingerprint,
                           int status, const char *body)
{
    json_t *done = NULL;
    int rc = -1;

    if (fingerprint != NULL && body != NULL)
        done = json_pack("{s:O,s:i,s:s}", "fingerprint", fingerprint,
                         "status", status, "body", body);
    json_decref(fingerprint);
    if (done == NULL)
        return -1;

    pthread_mutex_lock(&st->lock);
    if (claim_held(st, key, claim) &&
        json_object_set(st->idem, key, done) == 0)
        rc = 0;
    pthread_mutex_unlock(&st->lock);
    json_decref(done);
    return rc;
}

void sb_state_idem_release(sb_state *st, const char *key,
                           unsigned long claim)
{
    pthread_mutex_lock(&st->lock);
    if (claim_held(st, key, claim))
        json_object_del(st->idem, key);
    pthread_mutex_unlock(&st->lock);
}

int sb_state_idem_replay(sb_state *st, const char *key,
                         const json_t *fingerprint, const char *source,
                         int *status, char **body)
{
    json_t *entry, *stored;
    const char *text;
    int rc = -1;

    *status = 0;
    *body = NULL;
    pthread_mutex_lock(&st->lock);
    entry = json_object_get(st->idem, key);
    stored = json_object_get(entry, "fingerprint");
    if (stored == NULL)
        goto out;
    rc = json_equal(stored, fingerprint) ? 1 : 0;
    if (rc == 0)
        goto out;
    *status = (int)json_integer_value(json_object_get(entry, "status"));
    text = json_string_value(json_object_get(entry, "body"));
    *body = text != NULL ? strdup(text) : NULL;
    /* Counted only when answered: a failed copy becomes a 500. */
    if (*body != NULL && source != NULL)
        count_one(st->replays, source);

out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

long sb_state_fault_push(sb_state *st, sb_fault_route route, long count,
                         const sb_fault *fault)
{
    fault_node *n = calloc(1, sizeof(*n));
    fault_node **tail;
    long pending = 0;

    if (n == NULL)
        return -1;
    n->fault = *fault;
    n->fault.body = NULL;
    n->remaining = count;
    if (fault->body != NULL &&
        (n->fault.body = strdup(fault->body)) == NULL) {
        free(n);
        return -1;
    }

    pthread_mutex_lock(&st->lock);
    for (tail = &st->faults[route]; *tail != NULL; tail = &(*tail)->next)
        pending += (*tail)->remaining;
    *tail = n;
    pending += count;
    pthread_mutex_unlock(&st->lock);
    return pending;
}

int sb_state_fault_take(sb_state *st, sb_fault_route route, sb_fault *out)
{
    fault_node *head;
    int taken = 0;

    memset(out, 0, sizeof(*out));
    if (route == SB_FAULT_NONE)
        return 0;
    pthread_mutex_lock(&st->lock);
    head = st->faults[route];
    if (head != NULL) {
        *out = head->fault;
        /* The node keeps its body while it has requests left. */
        out->body = head->fault.body ? strdup(head->fault.body) : NULL;
        if (--head->remaining <= 0) {
            st->faults[route] = head->next;
            sb_fault_clear(&head->fault);
            free(head);
        }
        taken = 1;
    }
    pthread_mutex_unlock(&st->lock);
    return taken;
}

void sb_state_reset(sb_state *st)
{
    json_t *rec;
    const char *id;

    pthread_mutex_lock(&st->lock);
    json_object_foreach(st->tx, id, rec) {
        const char *stored = json_string_value(
            json_object_get(rec, "storedPath"));

        if (stored != NULL)
            unlink(stored);
    }
    json_object_clear(st->tx);
    json_object_clear(st->crm);
    json_object_clear(st->uploads);
    json_object_clear(st->replays);
    json_object_clear(st->lost);
    json_object_clear(st->corrupted);
    json_object_clear(st->idem);
    json_object_clear(st->accounts);
    faults_free(st);
    pthread_mutex_unlock(&st->lock);
}

int sb_state_sleep_ms(sb_state *st, long ms)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&st->lock);
    while (!st->stopping && rc == 0)
        rc = pthread_cond_timedwait(&st->wake, &st->lock, &until);
    rc = st->stopping ? -1 : 0;
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void sb_state_stop(sb_state *st)
{
    pthread_mutex_lock(&st->lock);
    st->stopping = 1;
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->lock);
}
