/* ds_blobref.c - counting the documents that use a blob; see ds_blobref.h */
#include "ds_blobref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ds_config.h"
#include "ds_state.h"
#include "ds_time.h"

#define LEASE_TTL_MS 5000
#define LEASE_TRIES 50
#define LEASE_WAIT_MS 100

/* A sweep does not wait long for a busy blob: it comes back to it. */
#define SWEEP_LEASE_TRIES 3

/* Entries read per page by ds_blobref_kept_each. */
#define PAGE 500

/* Room for "<sha256>:<documentId>" and its NUL. */
#define MEMBER_LEN (DS_SHA256_HEX_LEN + 1 + 128 + 1)

/* Adds (ARGV[2] "1") or removes a holder and takes the hold out of the
 * sweep's way, in one round trip; returns the holders left. KEYS:
 * blobref, blobkeep. ARGV: documentId, add, member. */
static const char CHANGE[] =
    "if ARGV[2] == '1' then redis.call('SADD', KEYS[1], ARGV[1]) "
    "else redis.call('SREM', KEYS[1], ARGV[1]) end "
    "redis.call('ZREM', KEYS[2], ARGV[3]) "
    "return redis.call('SCARD', KEYS[1])";

/* Keeps a document's hold for the sweep, only while the document holds
 * the blob. KEYS: blobref, blobkeep. ARGV: documentId, member, ms. */
static const char KEEP[] =
    "if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end "
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2]) return 1";

/* Takes an entry out of the set and says since when it was there (false
 * when it was not). KEYS: blobkeep. ARGV: member. */
static const char UNKEEP[] =
    "local s = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
    "if s then redis.call('ZREM', KEYS[1], ARGV[1]) end "
    "return s";

/* Claims an expired entry and drops its hold, atomically: the entry must
 * still be there and still due (a new dead letter moves it on), so of two
 * sweepers, or a sweeper and a replay, one has it. Returns {since, holders
 * left}, or false. KEYS: blobkeep, blobref. ARGV: member, documentId,
 * cutoff ms. */
static const char CLAIM[] =
    "local s = redis.call('ZSCORE', KEYS[1], ARGV[1]) "
    "if not s or tonumber(s) > tonumber(ARGV[3]) then return false end "
    "redis.call('ZREM', KEYS[1], ARGV[1]) "
    "redis.call('SREM', KEYS[2], ARGV[2]) "
    "return {s, redis.call('SCARD', KEYS[2])}";

/* Gives a claimed hold back when its blob could not be removed, so that a
 * later sweep tries again. KEYS: blobkeep, blobref. ARGV: member,
 * documentId, since ms. */
static const char UNCLAIM[] =
    "redis.call('SADD', KEYS[2], ARGV[2]) "
    "redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[1]) return 1";

/* Records an expired hold in the document's hash and timeline. KEYS: doc,
 * timeline. ARGV: sha256, ms, stage. */
static const char RECORD[] =
    "redis.call('HSET', KEYS[1], 'blob_expired', ARGV[1], "
    "'blob_expired_at', ARGV[2]) "
    "redis.call('RPUSH', KEYS[2], ARGV[2] .. ':' .. ARGV[3] .. "
    "':blob_expired:' .. ARGV[1]) return 1";

/* Where one hold stands. KEYS: blobkeep, blobref, doc. ARGV: member,
 * documentId. */
static const char LOOK[] =
    "local e = redis.call('HMGET', KEYS[3], 'blob_expired', "
    "'blob_expired_at') "
    "return {redis.call('ZSCORE', KEYS[1], ARGV[1]) or '', "
    "redis.call('SISMEMBER', KEYS[2], ARGV[2]), e[1] or '', e[2] or ''}";

int ds_blobref_conf_load(ds_blobref_conf *conf, ds_err *err)
{
    if (ds_env_long("BLOB_RETENTION_S", 604800, &conf->retention_s,
                    err) < 0 ||
        ds_env_long("BLOB_SWEEP_INTERVAL_S", 60, &conf->sweep_interval_s,
                    err) < 0)
        return -1;
    if (conf->retention_s < 0 ||
        conf->retention_s > DS_BLOBREF_RETENTION_MAX_S)
        return ds_err_set(err, "bad_config", "BLOB_RETENTION_S must be 0 "
                          "(keep until replayed) to %ld seconds, not %ld",
                          DS_BLOBREF_RETENTION_MAX_S, conf->retention_s);
    if (conf->sweep_interval_s < 1)
        return ds_err_set(err, "bad_config", "BLOB_SWEEP_INTERVAL_S must be "
                          "at least 1 second, not %ld",
                          conf->sweep_interval_s);
    return 0;
}

long long ds_blobref_deadline(const ds_blobref_conf *conf,
                              long long since_ms)
{
    if (conf->retention_s == 0)
        return -1;
    return since_ms + (long long)conf->retention_s * 1000;
}

/* Waits for the blob's lease, at most tries times. Sets *taken. */
static int lock_blob_tries(ds_redis *r, const char *lease, const char *owner,
                           int tries, int *taken, ds_err *err)
{
    int i;

    *taken = 0;
    for (i = 0; i < tries; i++) {
        if (i > 0)
            ds_time_sleep_ms(LEASE_WAIT_MS);
        if (ds_lease_take(r, lease, owner, LEASE_TTL_MS, taken, err) < 0)
            return -1;
        if (*taken)
            return 0;
    }
    return 0;
}

/* Waits for the blob's lease, a bounded number of times. */
static int lock_blob(ds_redis *r, const char *lease, const char *owner,
                     ds_err *err)
{
    int taken;

    if (lock_blob_tries(r, lease, owner, LEASE_TRIES, &taken, err) < 0)
        return -1;
    if (!taken)
        return ds_err_set(err, "blob_busy", "blob lease not available");
    return 0;
}

/* Sets err for a reply of the wrong type (naming Redis's error when it
 * is one), frees it and returns -1. */
static int unexpected(redisReply *reply, ds_err *err, const char *what)
{
    if (reply->type == REDIS_REPLY_ERROR)
        ds_err_set(err, "redis_error", "%s: %s", what, reply->str);
    else
        ds_err_set(err, "redis_error", "%s: unexpected reply", what);
    freeReplyObject(reply);
    return -1;
}

/* Adds or removes doc_id in the blob's set of holders and returns how
 * many holders remain, or -1. A set, not a counter, so that a redelivered
 * message holding or dropping twice counts once. Either way the hold is
 * no longer one kept for the sweep. */
static long long change_holders(ds_redis *r, const char *sha256,
                                const char *doc_id, int add, ds_err *err)
{
    char blobref[96], member[MEMBER_LEN];
    redisReply *reply;
    long long n;

    snprintf(blobref, sizeof(blobref), "docsync:blobref:%s", sha256);
    snprintf(member, sizeof(member), "%s:%s", sha256, doc_id);
    reply = ds_redis_cmd(r, err, "EVAL %s 2 %s " DS_BLOBREF_KEEP_KEY
                         " %s %s %s", CHANGE, blobref, doc_id,
                         add ? "1" : "0", member);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_INTEGER)
        return unexpected(reply, err, "blob holders");
    n = reply->integer;
    freeReplyObject(reply);
    return n;
}

int ds_blobref_hold(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, ds_err *err)
{
    char lease[96];
    int rc = 0, there = 0;

    snprintf(lease, sizeof(lease), "blob:%s", sha256);
    if (lock_blob(r, lease, owner, err) < 0)
        return -1;
    if (change_holders(r, sha256, doc_id, 1, err) < 0)
        rc = -1;
    else if (ds_blob_exists(s, sha256, &there, err) < 0)
        rc = -1;
    else if (!there)
        rc = ds_err_set(err, "blob_race",
                        "blob removed while being stored; fetching again");
    ds_lease_release(r, lease, owner, err);
    return rc;
}

int ds_blobref_drop(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, int *removed,
                    ds_err *err)
{
    char lease[96];
    long long left;
    int rc = 0;

    *removed = 0;
    snprintf(lease, sizeof(lease), "blob:%s", sha256);
    if (lock_blob(r, lease, owner, err) < 0)
        return -1;
    left = change_holders(r, sha256, doc_id, 0, err);
    if (left < 0) {
        rc = -1;
    } else if (left == 0) {
        rc = ds_blob_remove(s, sha256, err);
        *removed = rc == 0;
    }
    ds_lease_release(r, lease, owner, err);
    return rc;
}

/* Runs one of the scripts above with two keys of the blob and the member
 * "<sha256>:<documentId>", then the extra arguments (NULL-terminated).
 * Returns the reply, or NULL with err set (an error reply included). */
static redisReply *run_script(ds_redis *r, const char *script,
                              const char *sha256, const char *doc_id,
                              int nkeys, const char *const *extra,
                              ds_err *err)
{
    char member[MEMBER_LEN], blobref[96], doc[160];
    const char *argv[12];
    size_t lens[12];
    redisReply *reply;
    int n = 0, i;

    snprintf(member, sizeof(member), "%s:%s", sha256, doc_id);
    snprintf(blobref, sizeof(blobref), "docsync:blobref:%s", sha256);
    snprintf(doc, sizeof(doc), "docsync:doc:%s", doc_id);
    argv[n++] = "EVAL";
    argv[n++] = script;
    argv[n++] = nkeys == 3 ? "3" : "2";
    argv[n++] = DS_BLOBREF_KEEP_KEY;
    argv[n++] = blobref;
    if (nkeys == 3)
        argv[n++] = doc;
    argv[n++] = member;
    argv[n++] = doc_id;
    for (; extra != NULL && *extra != NULL && n < 12; extra++)
        argv[n++] = *extra;
    for (i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    reply = ds_redis_argv(r, err, n, argv, lens);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        ds_err_set(err, "redis_error", "kept blob: %s", reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int ds_blobref_keep(ds_redis *r, const char *sha256, const char *doc_id,
                    long long now_ms, int *kept, ds_err *err)
{
    char blobref[96], member[MEMBER_LEN], ms[32];
    redisReply *reply;

    snprintf(blobref, sizeof(blobref), "docsync:blobref:%s", sha256);
    snprintf(member, sizeof(member), "%s:%s", sha256, doc_id);
    snprintf(ms, sizeof(ms), "%lld", now_ms);
    reply = ds_redis_cmd(r, err, "EVAL %s 2 %s " DS_BLOBREF_KEEP_KEY
                         " %s %s %s", KEEP, blobref, doc_id, member, ms);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_INTEGER)
        return unexpected(reply, err, "keep blob");
    if (kept != NULL)
        *kept = reply->integer == 1;
    freeReplyObject(reply);
    return 0;
}

/* A score as Redis writes it, in epoch ms. Read as a double: Redis may
 * write a whole number of that size in exponent form. */
static long long score_ms(const char *text)
{
    return (long long)strtod(text, NULL);
}

int ds_blobref_unkeep(ds_redis *r, const char *sha256, const char *doc_id,
                      long long *since_ms, ds_err *err)
{
    char member[MEMBER_LEN];
    redisReply *reply;

    *since_ms = -1;
    snprintf(member, sizeof(member), "%s:%s", sha256, doc_id);
    reply = ds_redis_cmd(r, err, "EVAL %s 1 " DS_BLOBREF_KEEP_KEY " %s",
                         UNKEEP, member);
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)
        return unexpected(reply, err, "unkeep blob");
    if (reply->type == REDIS_REPLY_STRING)
        *since_ms = score_ms(reply->str);
    freeReplyObject(reply);
    return 0;
}

/* A string element of an array reply as a number, or -1 when empty. */
static long long elem_ms(const redisReply *reply, size_t i)
{
    const redisReply *e = i < reply->elements ? reply->element[i] : NULL;

    if (e == NULL || e->type != REDIS_REPLY_STRING || e->str[0] == '\0')
        return -1;
    return score_ms(e->str);
}

int ds_blobref_look_up(ds_redis *r, const char *sha256, const char *doc_id,
                       ds_blobref_look *look, ds_err *err)
{
    redisReply *reply = run_script(r, LOOK, sha256, doc_id, 3, NULL, err);
    const redisReply *expired;

    look->kept_since_ms = look->expired_at_ms = -1;
    look->held = 0;
    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
        reply->element[1]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return ds_err_set(err, "redis_error", "kept blob: unexpected reply");
    }
    look->kept_since_ms = elem_ms(reply, 0);
    look->held = reply->element[1]->integer == 1;
    expired = reply->element[2];
    /* The hash names the last blob that expired for the document. */
    if (expired->type == REDIS_REPLY_STRING &&
        strcmp(expired->str, sha256) == 0)
        look->expired_at_ms = elem_ms(reply, 3);
    freeReplyObject(reply);
    return 0;
}

/* Splits "<sha256>:<documentId>" into e's fields (pointing into buf).
 * Returns 0, or -1 for a member no docsync process writes. */
static int parse_member(const char *member, char *buf, size_t cap,
                        ds_blobref_entry *e)
{
    if (member == NULL || strlen(member) >= cap)
        return -1;
    snprintf(buf, cap, "%s", member);
    if (strlen(buf) <= DS_SHA256_HEX_LEN || buf[DS_SHA256_HEX_LEN] != ':')
        return -1;
    buf[DS_SHA256_HEX_LEN] = '\0';
    e->sha256 = buf;
    e->doc_id = buf + DS_SHA256_HEX_LEN + 1;
    e->removed = 0;
    return ds_blob_ref_valid(e->sha256) && ds_doc_id_valid(e->doc_id) ? 0
                                                                      : -1;
}

int ds_blobref_kept_each(ds_redis *r, ds_blobref_entry_fn fn, void *ctx,
                         ds_err *err)
{
    char buf[MEMBER_LEN];
    long long start = 0;
    redisReply *reply;
    size_t i;

    for (;;) {
        reply = ds_redis_cmd(r, err, "ZRANGE " DS_BLOBREF_KEEP_KEY
                             " %lld %lld WITHSCORES", start,
                             start + PAGE - 1);
        if (reply == NULL)
            return -1;
        if (reply->type != REDIS_REPLY_ARRAY)
            return unexpected(reply, err, "kept blobs");
        for (i = 0; i + 1 < reply->elements; i += 2) {
            ds_blobref_entry e;

            if (parse_member(reply->element[i]->str, buf, sizeof(buf),
                             &e) < 0)
                continue;
            e.since_ms = score_ms(reply->element[i + 1]->str);
            if (fn(ctx, &e) != 0) {
                freeReplyObject(reply);
                return 0;
            }
        }
        i = reply->elements;
        freeReplyObject(reply);
        if (i < 2 * PAGE)
            return 0;
        start += PAGE;
    }
}

/* Writes the expired hold into the document's hash and timeline. */
static int record_expired(ds_redis *r, const ds_blobref_entry *e,
                          const char *stage, ds_err *err)
{
    char doc[160], timeline[160], ms[32];

    snprintf(ms, sizeof(ms), "%lld", ds_time_wall_ms());
    snprintf(doc, sizeof(doc), "docsync:doc:%s", e->doc_id);
    snprintf(timeline, sizeof(timeline), "docsync:timeline:%s", e->doc_id);
    return ds_redis_ok(ds_redis_cmd(r, err, "EVAL %s 2 %s %s %s %s %s",
                                    RECORD, doc, timeline, e->sha256, ms,
                                    stage), err, "blob expired");
}

/* The claim's answer: -1 when the entry is not ours (gone or not due),
 * else the holders left, with e->since_ms set. */
static long long claim_answer(redisReply *reply, ds_blobref_entry *e)
{
    long long left = -1;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        e->since_ms = elem_ms(reply, 0);
        left = reply->element[1]->integer;
    }
    freeReplyObject(reply);
    return left;
}

/* The blob of a claimed hold that was its last could not be removed:
 * gives the claim back, so that a later sweep tries again. */
static void unclaim(ds_redis *r, const ds_blobref_entry *e)
{
    char since[32];
    const char *args[] = {since, NULL};
    ds_err uerr;

    ds_err_clear(&uerr);
    snprintf(since, sizeof(since), "%lld", e->since_ms);
    freeReplyObject(run_script(r, UNCLAIM, e->sha256, e->doc_id, 2, args,
                               &uerr));
}

/* Ends one due hold, if it is still due and nobody took it first: claims
 * it, removes the blob when that was its last hold, records it. Sets
 * *done to 1 when it ended the hold, 0 when the entry was not its to end
 * or the lease was busy. Returns 0 or -1. */
static int expire_one(ds_redis *r, ds_blob_store *s, ds_blobref_entry *e,
                      long long cutoff_ms, const char *stage,
                      const char *owner, int *done, ds_err *err)
{
    char lease[96], cutoff[32];
    const char *args[] = {cutoff, NULL};
    redisReply *reply;
    long long left = -1;
    int taken, rc = 0;
    ds_err lerr;

    *done = 0;
    snprintf(lease, sizeof(lease), "blob:%s", e->sha256);
    snprintf(cutoff, sizeof(cutoff), "%lld", cutoff_ms);
    if (lock_blob_tries(r, lease, owner, SWEEP_LEASE_TRIES, &taken,
                        err) < 0)
        return -1;
    if (!taken)
        return 0;

    reply = run_script(r, CLAIM, e->sha256, e->doc_id, 2, args, err);
    if (reply == NULL)
        rc = -1;
    else
        left = claim_answer(reply, e);
    if (left == 0 && ds_blob_remove(s, e->sha256, err) < 0) {
        unclaim(r, e);
        rc = -1;
    } else if (left >= 0) {
        e->removed = left == 0;
        rc = record_expired(r, e, stage, err);
        *done = 1;
    }

    ds_err_clear(&lerr);
    ds_lease_release(r, lease, owner, &lerr);
    return rc;
}

/* The members due at cutoff_ms, oldest first, at most limit. */
static redisReply *due_members(ds_redis *r, long long cutoff_ms, int limit,
                               ds_err *err)
{
    redisReply *reply = ds_redis_cmd(r, err, "ZRANGEBYSCORE "
                                     DS_BLOBREF_KEEP_KEY " -inf %lld "
                                     "LIMIT 0 %d", cutoff_ms, limit);

    if (reply != NULL && reply->type != REDIS_REPLY_ARRAY) {
        unexpected(reply, err, "due blobs");
        return NULL;
    }
    return reply;
}

int ds_blobref_sweep(ds_redis *r, ds_blob_store *s, long long cutoff_ms,
                     int limit, const char *stage, const char *owner,
                     ds_blobref_entry_fn fn, void *ctx, int *more,
                     ds_err *err)
{
    redisReply *due;
    char buf[MEMBER_LEN];
    int rc = 0, done;
    size_t i;

    *more = 0;
    due = due_members(r, cutoff_ms, limit, err);
    if (due == NULL)
        return -1;
    for (i = 0; rc == 0 && i < due->elements; i++) {
        const char *member = due->element[i]->str;
        ds_blobref_entry e;

        /* Nobody writes such a member; it would stay due for ever. */
        if (parse_member(member, buf, sizeof(buf), &e) < 0) {
            ds_err zerr;

            ds_err_clear(&zerr);
            freeReplyObject(ds_redis_cmd(r, &zerr, "ZREM "
                                         DS_BLOBREF_KEEP_KEY " %s", member));
            continue;
        }
        rc = expire_one(r, s, &e, cutoff_ms, stage, owner, &done, err);
        if (done && fn != NULL)
            fn(ctx, &e);
    }
    *more = rc == 0 && due->elements == (size_t)limit;
    freeReplyObject(due);
    return rc;
}
