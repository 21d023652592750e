/*
 * sb_list.h - the listing routes a poller and a lookup use: the CRM's
 * paginated document listing and the transaction system's accounts
 * lookup. Keys, limits and faults are done by sb_http.c first.
 */
#ifndef SB_LIST_H
#define SB_LIST_H

#include "sb_call.h"

/* GET /api/v1/documents?createdSince=&limit=&cursor=: 200 {"data":[public
 * metadata...],"nextCursor": "..." | null}, ordered by createdAt, then
 * id; createdSince inclusive; limit 1..100, default 50; a cursor carries
 * the other parameters. 400 bad_field for a bad parameter. */
void sb_list_documents(const sb_ctx *ctx, const sb_call *call,
                       sb_reply *out);

/* GET /v1/transactions?accountId=X: 200 {"data":[{"id","accountId"}...]}
 * with the transactions of the account (none, one or many); 400 bad_field
 * without accountId. */
void sb_list_accounts(const sb_ctx *ctx, const sb_call *call,
                      sb_reply *out);

#endif
