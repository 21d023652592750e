/* ds_blobref.c - counting the documents that use a blob; see ds_blobref.h */
#include "ds_blobref.h"

#include <stdio.h>
#include <time.h>

#include "ds_state.h"

#define LEASE_TTL_MS 5000
#define LEASE_TRIES 50
#define LEASE_WAIT_NS 100000000L

/* Waits for the blob's lease, a bounded number of times. */
static int lock_blob(ds_redis *r, const char *lease, const char *owner,
                     ds_err *err)
{
    int taken = 0, tries;

    for (tries = 0; tries < LEASE_TRIES; tries++) {
        if (ds_lease_take(r, lease, owner, LEASE_TTL_MS, &taken, err) < 0)
            return -1;
        if (taken)
            return 0;
        nanosleep(&(struct timespec){0, LEASE_WAIT_NS}, NULL);
    }
    return ds_err_set(err, "blob_busy",
                      "blob lease not available");
}

/* Adds or removes doc_id in the blob's set of holders and returns how
 * many holders remain, or -1. A set, not a counter, so that a redelivered
 * message holding or dropping twice counts once. */
static long long change_holders(ds_redis *r, const char *sha256,
                                const char *doc_id, int add, ds_err *err)
{
    redisReply *reply;
    long long n = -1;

    reply = ds_redis_cmd(r, err, "%s docsync:blobref:%s %s",
                         add ? "SADD" : "SREM", sha256, doc_id);
    if (reply != NULL)
        freeReplyObject(reply);
    else
        return -1;
    reply = ds_redis_cmd(r, err, "SCARD docsync:blobref:%s", sha256);
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        n = reply->integer;
    else
        ds_err_set(err, "redis_error", "blob holders");
    if (reply != NULL)
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
