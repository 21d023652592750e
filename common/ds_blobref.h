/*
 * ds_blobref.h - counting the documents that use a blob, and keeping the
 * blobs of dead-lettered documents for a while.
 *
 * Blobs are content-addressed, so two documents with the same bytes share
 * one. Each fetched document holds its blob (a set of documentIds,
 * so a redelivery holds once); the verifier drops the hold
 * after verification and removes the blob when nobody holds it any more.
 * Counting and removing run under a per-blob lease so that a fetcher storing
 * the same bytes again never loses them to a concurrent removal.
 *
 * A dead-lettered document keeps its hold, so that a replay finds its blob,
 * but not for ever: the loop notes when the document was dead-lettered
 * (ds_blobref_keep), and a sweep (ds_blobref_sweep, run by the verifier)
 * ends the holds kept longer than BLOB_RETENTION_S, removing each blob
 * whose last hold that was. A replay, or a new fetch of the same bytes for
 * the document, takes the hold out of the sweep's way again.
 *
 * Keys (all under docsync:):
 *   blobref:<sha256>   set of the documentIds holding the blob
 *   blobkeep           sorted set of "<sha256>:<documentId>", the holds of
 *                      dead-lettered documents, scored by the epoch ms of
 *                      the dead letter
 *   doc:<documentId>   hash: blob_expired (the sha256), blob_expired_at
 *   timeline:<id>      list: "<ms>:<stage>:blob_expired:<sha256>"
 */
#ifndef DS_BLOBREF_H
#define DS_BLOBREF_H

#include "ds_blob.h"
#include "ds_error.h"
#include "ds_redis.h"

#define DS_BLOBREF_KEEP_KEY "docsync:blobkeep"

/* The longest retention accepted, 100 years: a longer wish is 0. */
#define DS_BLOBREF_RETENTION_MAX_S (100L * 365 * 24 * 3600)

/* How long the blobs of dead-lettered documents are kept, and how often
 * the sweep looks for expired ones. */
typedef struct ds_blobref_conf {
    long retention_s;       /* BLOB_RETENTION_S, 604800; 0: until replayed */
    long sweep_interval_s;  /* BLOB_SWEEP_INTERVAL_S, 60 */
} ds_blobref_conf;

/* Reads BLOB_RETENTION_S (a whole number of seconds from 0 to
 * DS_BLOBREF_RETENTION_MAX_S, default 7 days) and BLOB_SWEEP_INTERVAL_S
 * (at least 1, default 60) into conf. Returns 0, or -1 with err
 * "config_invalid" or "bad_config" naming the variable. */
int ds_blobref_conf_load(ds_blobref_conf *conf, ds_err *err);

/* When a hold kept since since_ms expires under conf, epoch ms, or -1 when
 * it never does (retention 0). */
long long ds_blobref_deadline(const ds_blobref_conf *conf,
                              long long since_ms);

/* Adds one hold on the blob and checks that it is still on disk. A hold
 * taken again by a dead-lettered document (a new fetch of the same bytes)
 * is no longer kept for the sweep: the document is on its way again.
 * Returns 0, or -1 (transient "blob_race" when it vanished and must be
 * fetched again). */
int ds_blobref_hold(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, ds_err *err);

/* Drops one hold and removes the blob when it was the last. *removed is
 * set to 1 when the blob was removed. The hold's retention, if it had one,
 * ends with it. Returns 0 or -1. */
int ds_blobref_drop(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, int *removed,
                    ds_err *err);

/* Notes that doc_id was dead-lettered at now_ms with a record naming the
 * blob: its hold is kept, and the sweep may end it once the retention has
 * passed since now_ms. A later dead letter moves the time on. A document
 * that does not hold the blob (its hold ended already) is left alone.
 * Sets *kept (may be NULL) to 1 when the hold is now kept. Returns 0 or
 * -1. */
int ds_blobref_keep(ds_redis *r, const char *sha256, const char *doc_id,
                    long long now_ms, int *kept, ds_err *err);

/* Takes doc_id's hold on the blob out of the sweep's way without dropping
 * it: the document is replayed. Sets *since_ms to the time it was kept
 * since, or -1 when it was not kept (never dead-lettered with the blob, or
 * expired already). Returns 0 or -1. */
int ds_blobref_unkeep(ds_redis *r, const char *sha256, const char *doc_id,
                      long long *since_ms, ds_err *err);

/* Where one document's hold on one blob stands, for operators. */
typedef struct ds_blobref_look {
    long long kept_since_ms;   /* dead-lettered then, kept; -1 when not */
    int held;                  /* the document holds the blob */
    long long expired_at_ms;   /* the sweep ended this hold then; -1 */
} ds_blobref_look;

/* Reads where doc_id's hold on the blob stands into *look. Returns 0 or
 * -1. */
int ds_blobref_look_up(ds_redis *r, const char *sha256, const char *doc_id,
                       ds_blobref_look *look, ds_err *err);

/* One kept hold, as ds_blobref_kept_each and the sweep report it. */
typedef struct ds_blobref_entry {
    const char *sha256;
    const char *doc_id;
    long long since_ms;   /* when the document was dead-lettered */
    int removed;          /* sweep: 1 when the blob was removed, 0 when
                           * another document still holds it */
} ds_blobref_entry;

/* Called for each entry; a nonzero return stops the walk. */
typedef int (*ds_blobref_entry_fn)(void *ctx, const ds_blobref_entry *e);

/* Calls fn for every kept hold, oldest first, in pages, so that a long
 * set is never read whole. Entries that change meanwhile may be skipped
 * or seen twice. Returns 0 (also when fn stopped it) or -1. */
int ds_blobref_kept_each(ds_redis *r, ds_blobref_entry_fn fn, void *ctx,
                         ds_err *err);

/* Ends at most limit of the holds kept since cutoff_ms or earlier: each
 * hold is dropped (removing the blob when it was the last, under the
 * blob's lease as owner), recorded in the document's hash and timeline as
 * blob_expired by stage, and reported to fn (may be NULL). The removal of
 * an entry from the set decides which of several sweepers, or a replay,
 * has it, so each hold is ended once. A blob whose lease is busy waits for
 * a later sweep. Sets *more to 1 when limit entries were due (call again).
 * Returns 0, or -1 with err at the first Redis or store failure: a blob
 * that could not be removed keeps its hold and its entry. */
int ds_blobref_sweep(ds_redis *r, ds_blob_store *s, long long cutoff_ms,
                     int limit, const char *stage, const char *owner,
                     ds_blobref_entry_fn fn, void *ctx, int *more,
                     ds_err *err);

#endif
