/*
 * ctl_blobs.h - the blobs kept for dead-lettered documents, as docsyncctl
 * sees them: `blobs list`, `blobs sweep`, and what dlq show, dlq list
 * --json and dlq replay say of the blob a DLQ record names.
 *
 * The holds live in Redis (ds_blobref.h): the sorted set
 * docsync:blobkeep of "<sha256>:<documentId>" scored by the time of the
 * dead letter. The deadline is that time plus BLOB_RETENTION_S, read
 * from docsyncctl's environment as the verifier reads it from its own, so
 * give both the same value.
 */
#ifndef CTL_BLOBS_H
#define CTL_BLOBS_H

#include "ctl_conf.h"
#include "ctl_format.h"
#include "ctl_record.h"
#include "ds_blob.h"
#include "ds_blobref.h"
#include "ds_redis.h"

/* Copies the blob a DLQ record's value names ("blob") into sha. Returns 1
 * when it names a valid one and its key is a documentId, else 0. */
int ctl_record_blob(const ctl_record *r, char sha[DS_SHA256_HEX_LEN + 1]);

/* What dlq show and dlq list --json need to say where a record's blob
 * stands: Redis and the retention, read at the first record that names a
 * blob. */
typedef struct ctl_blob_lookup {
    int tried;              /* Redis and BLOB_RETENTION_S were read */
    ds_redis *redis;        /* NULL when Redis cannot be used */
    ds_blobref_conf keep;
    char sha[DS_SHA256_HEX_LEN + 1];
} ctl_blob_lookup;

/* Fills view for r: NULL sha256 when it names no blob, else the blob and
 * the state of the document's hold (ctl_blob_view). The first record
 * that names a blob connects Redis; when Redis or BLOB_RETENTION_S cannot
 * be used, that is said once on stderr and the state is "unknown". view
 * points into lk until the next call. */
void ctl_blob_view_of(ctl_blob_lookup *lk, const ctl_record *r,
                      ctl_blob_view *view);

/* Reads one hold's state into view, with the retention keep, for the
 * record's blob sha and document doc_id. Returns 0 or -1 with err. */
int ctl_blob_view_read(ds_redis *redis, const ds_blobref_conf *keep,
                       const char *sha, const char *doc_id,
                       ctl_blob_view *view, ds_err *err);

/* Frees what lookups made; the struct may be used again. */
void ctl_blob_lookup_clear(ctl_blob_lookup *lk);

/* Runs `blobs list ARGS...`. Returns the exit code. */
int ctl_blobs_list(ctl_conf *conf, int argc, char **argv);

/* Runs `blobs sweep ARGS...`. Returns the exit code. */
int ctl_blobs_sweep(ctl_conf *conf, int argc, char **argv);

#endif
