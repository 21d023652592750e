/*
 * sb_http.h - the HTTP side of the sandbox on libmicrohttpd: one thread
 * per connection (webhook sends and injected hangs block), a route table,
 * the rate limits, the API key, bearer token and subscription-key checks,
 * injected faults (queued, or drawn by the chaos
 * engine: answers, hangs, dropped connections), the claim and release of an
 * Idempotency-Key, request bodies in memory or spilled to the data
 * directory, and one log line per request.
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include "ds_error.h"
#include "sb_call.h"

typedef struct sb_http sb_http;

/* Starts serving on ctx->opt->port of ctx->opt->host, or of every
 * interface (IPv6 and IPv4) when host is NULL. What ctx points to must
 * outlive the server (hooks may be NULL). Returns NULL with err set when
 * the address cannot be resolved or bound. */
sb_http *sb_http_start(const sb_ctx *ctx, ds_err *err);

/* The port actually bound (differs from the option when it was 0). */
int sb_http_port(const sb_http *h);

/* Gives the requests in flight up to a second to send their answers,
 * then stops, shutting every connection, and frees h; accepts NULL. Call
 * sb_state_stop first so that injected hangs end at once with 503. */
void sb_http_stop(sb_http *h);

#endif
