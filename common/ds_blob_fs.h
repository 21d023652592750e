/*
 * ds_blob_fs.h - the blob store backend on a local or shared disk.
 *
 * A blob lives at ROOT/ab/cd/abcdef... (its sha256's first two and next
 * two hex digits as directories, so no directory grows too large). It is
 * written under a random name in ROOT/tmp, synced, and renamed into place,
 * and the directory is synced after the rename, so a crash leaves either
 * the whole blob under its name or a temporary file that
 * ds_blob_sweep_tmp removes later. ROOT may be a volume shared by every
 * replica (docker-compose's blobs volume): rename is atomic there too.
 */
#ifndef DS_BLOB_FS_H
#define DS_BLOB_FS_H

#include <stddef.h>

#include "ds_blob_backend.h"

/* The operations of the "file" scheme, for ds_blob.c's table. */
extern const ds_blob_ops ds_blob_fs_ops;

/* Writes the path of the blob sha256 under root into out. Returns 0, or
 * -1 when sha256 is not a blob reference or out is too small. */
int ds_blob_fs_path(const char *root, const char *sha256, char *out,
                    size_t cap);

#endif
