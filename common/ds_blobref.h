/*
 * ds_blobref.h - counting the documents that use a blob.
 *
 * Blobs are content-addressed, so two documents with the same bytes share
 * one. Each fetched document holds its blob (a set of documentIds,
 * so a redelivery holds once); the verifier drops the hold
 * after verification and removes the blob when nobody holds it any more. A
 * dead-lettered document keeps its hold, so its blob stays for a replay.
 * Counting and removing run under a per-blob lease so that a fetcher storing
 * the same bytes again never loses them to a concurrent removal.
 */
#ifndef DS_BLOBREF_H
#define DS_BLOBREF_H

#include "ds_blob.h"
#include "ds_error.h"
#include "ds_redis.h"

/* Adds one hold on the blob and checks that it is still on disk. Returns 0,
 * or -1 (transient "blob_race" when it vanished and must be fetched again). */
int ds_blobref_hold(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, ds_err *err);

/* Drops one hold and removes the blob when it was the last. *removed is
 * set to 1 when the blob was removed. Returns 0 or -1. */
int ds_blobref_drop(ds_redis *r, ds_blob_store *s, const char *sha256,
                    const char *doc_id, const char *owner, int *removed,
                    ds_err *err);

#endif
