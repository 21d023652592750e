/*
 * sb_route.h - the sandbox's route table: which handler serves which
 * method and path, with which key, fault queue and kind of body.
 */
#ifndef SB_ROUTE_H
#define SB_ROUTE_H

#include <stddef.h>

#include "sb_call.h"

/* Which API a route belongs to: the key it demands in X-API-Key, or in
 * the OAuth2 mode the API its bearer token must be for, and the API whose
 * rate limit it counts against (CRM: "crm", DEST: "tx"). */
typedef enum { SB_KEY_NONE, SB_KEY_CRM, SB_KEY_DEST } sb_key_kind;

/* Where a route's request body goes: nowhere, memory (small JSON), or a
 * temporary file in the data directory (uploads of tens of MB). */
typedef enum { SB_BODY_NONE, SB_BODY_MEMORY, SB_BODY_FILE } sb_body_kind;

typedef struct sb_route {
    const char *method;
    const char *pattern;     /* "*" stands for one {id} segment */
    sb_key_kind key;
    sb_fault_route fault;    /* SB_FAULT_NONE: faults cannot be queued */
    sb_body_kind body;
    sb_handler handler;
    int idempotent;          /* honours Idempotency-Key (sb_call.idem_*) */
    const char *profile;     /* "vendor-crm" or "vendor-tx" for the vendor-
                              * shaped routes (subscription key), or NULL */
    sb_precheck precheck;    /* refuses from the headers alone, or NULL */
} sb_route;

typedef enum {
    SB_MATCH_OK,
    SB_MATCH_NO_ROUTE,   /* no pattern fits the path: 404 */
    SB_MATCH_BAD_METHOD, /* a pattern fits, not with this method: 405 */
    SB_MATCH_BAD_ID      /* the {id} is not a valid id: 404 */
} sb_match;

/* The route of method and path. HEAD matches the GET routes. On
 * SB_MATCH_OK sets *route and writes the {id} segments into param and
 * param2 ("" when the pattern has fewer). On SB_MATCH_BAD_METHOD writes the methods the path
 * accepts into allow, comma-separated, for the Allow header. */
sb_match sb_route_find(const char *method, const char *path,
                       const sb_route **route, char param[SB_ID_MAX + 1],
                       char param2[SB_ID_MAX + 1], char *allow,
                       size_t allow_cap);

#endif
