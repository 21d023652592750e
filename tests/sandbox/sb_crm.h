/*
 * sb_crm.h - the CRM's routes. The key check and faults are done by
 * sb_http.c before these run; call->param is the document id.
 */
#ifndef SB_CRM_H
#define SB_CRM_H

#include "sb_call.h"

/* GET /api/v1/documents/{id}: 200 with the public metadata of the document
 * (id, accountId, fileName, mimeType, size, description, createdAt), or 404
 * {"error":"not_found"}. */
void sb_crm_meta(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* What a CRM client sees of record rec: a new object with the public
 * fields; NULL when out of memory. */
json_t *sb_crm_public(json_t *rec);

/* GET /api/v1/documents/{id}/content: 200 streaming the file the document
 * was added with, Content-Type its mimeType; 404 for an unknown document,
 * 500 when the file can no longer be read. */
void sb_crm_content(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

#endif
