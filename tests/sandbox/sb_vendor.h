/*
 * sb_vendor.h - the vendor-shaped profile: the same CRM documents and
 * stored documents seen through a vendor's routes, field names, integer
 * ids and base64 MD5. Credentials, limits and faults are those of the
 * standard routes (api "crm" and "tx"), plus the subscription-key header
 * on the "vendor-crm" routes when configured.
 */
#ifndef SB_VENDOR_H
#define SB_VENDOR_H

#include "sb_call.h"

/* GET /vendor/crm/v2/files/{id}: 200 {"file":{"fileId","owner":
 * {"accountId"},"title","mimeType","byteSize","createdDate"}}; 404. */
void sb_vendor_file(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* POST /vendor/tx/public/v2/loop/{transactionId}/document with {"name",
 * "sourceRef","createdOn" (epoch ms),"base64Content"}, stored as an
 * ordinary upload (Idempotency-Key honoured): 201 {"data":{"id":<int>,
 * "name","loopId"}}. 400 missing_field / bad_field otherwise. */
void sb_vendor_upload(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out);

/* GET /vendor/tx/public/v2/loop/{transactionId}/document/{id}: 200
 * {"data":{"id","name","size","loopId","sourceRef","hash":{"md5"}}},
 * md5 in base64; 404 when unknown, lost or of another loop. */
void sb_vendor_get(const sb_ctx *ctx, const sb_call *call, sb_reply *out);

/* GET /vendor/tx/public/v2/loop/{transactionId}/document[?sourceRef=D]:
 * 200 {"data":[...]} with the objects of sb_vendor_get. */
void sb_vendor_search(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out);

#endif
