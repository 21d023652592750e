/*
 * sb_call.h - what a route handler receives and what it answers.
 *
 * Handlers know nothing of libmicrohttpd: sb_http.c turns the request into
 * an sb_call, runs the handler and turns the sb_reply into a response. The
 * routing, key checks, faults, body limits and the claim of an
 * Idempotency-Key happen before the handler runs.
 */
#ifndef SB_CALL_H
#define SB_CALL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sb_chaos.h"
#include "sb_options.h"
#include "sb_state.h"

typedef struct sb_config sb_config;
typedef struct sb_oauth sb_oauth;
typedef struct sb_limit sb_limit;
typedef struct sb_hooks sb_hooks;
typedef struct sb_sessions sb_sessions;

/* The long-lived things every handler may use. */
typedef struct sb_ctx {
    const sb_options *opt;
    sb_state *state;
    sb_chaos *chaos;
    sb_config *config;   /* the strict modes; empty without --config */
    sb_oauth *oauth;     /* tokens of the OAuth2 mode */
    sb_limit *limit;     /* rate-limit windows */
    sb_hooks *hooks;     /* webhook retries and duplicates */
    sb_sessions *sessions; /* chunked upload sessions */
} sb_ctx;

#define SB_HEADERS_MAX 4

/* Extra response headers decided before the handler runs (rate limits,
 * WWW-Authenticate), added to whatever answer the request gets. */
typedef struct sb_headers {
    int n;
    char name[SB_HEADERS_MAX][48];
    char value[SB_HEADERS_MAX][160];
} sb_headers;

/* Adds "name: value" to h; dropped when h is full. */
void sb_headers_add(sb_headers *h, const char *name, const char *value);

/* One request, as a handler sees it. */
typedef struct sb_call {
    const char *param;     /* the {id} segment of the route, or NULL */
    const char *param2;    /* a second {id} segment, or NULL */
    const char *authorization; /* the Authorization header, or NULL */
    const json_t *query;   /* the query arguments, name -> string; null
                            * for a value that is not UTF-8. The first of a
                            * repeated name counts. Never NULL. */
    const char *body;      /* NUL-terminated body held in memory, or NULL */
    size_t body_len;
    const char *body_file; /* path of a body spilled to disk, or NULL */
    const char *content_type; /* the Content-Type header, or NULL */
    const char *idem_key;  /* Idempotency-Key of a route that honours it,
                            * or NULL without one */
    unsigned long idem_claim; /* the request's claim on idem_key (see
                               * sb_state_idem_claim); 0 when the key had
                               * already completed: a replay or a misuse */
} sb_call;

/* One response: a body in memory or an open file to stream. */
typedef struct sb_reply {
    int status;            /* 0 until a handler sets one */
    char *body;            /* owned */
    size_t body_len;
    char content_type[128];
    int fd;                /* owned; -1 when the body is in memory */
    uint64_t fd_size;
    int replayed;          /* adds "Idempotent-Replayed: true" */
    long retry_after_s;    /* adds "Retry-After: N" when not negative */
    char etag[80];         /* adds "ETag: <etag>" when not empty */
    sb_chaos_kind chaos;   /* a chaos fault the handler applied, for the
                            * request's log line */
} sb_reply;

typedef void (*sb_handler)(const sb_ctx *ctx, const sb_call *call,
                           sb_reply *out);

/* What a request's headers tell before its body is read. */
typedef struct sb_head {
    const char *param;        /* the {id} segments, as in sb_call */
    const char *param2;
    const char *content_type; /* the Content-Type header, or NULL */
    int64_t content_length;   /* the Content-Length header, -1 without */
} sb_head;

/* A route's look at a request once its credentials and Idempotency-Key
 * are taken and before its body is read: it sets a status in out to
 * refuse the request at once (the body is then read and dropped), or
 * leaves out alone. */
typedef void (*sb_precheck)(const sb_ctx *ctx, const sb_head *head,
                            sb_reply *out);

/* Prepares an empty reply (status 0, no body, fd -1, no Retry-After). */
void sb_reply_init(sb_reply *r);

/* Frees the body, closes the file and prepares r again. */
void sb_reply_clear(sb_reply *r);

/* Answers status with obj (stolen) as compact JSON. Falls back to a plain
 * 500 when obj is NULL or cannot be written. */
void sb_reply_json(sb_reply *r, int status, json_t *obj);

/* Answers {"error": error} plus "reason" when reason is not NULL. */
void sb_reply_error(sb_reply *r, int status, const char *error,
                    const char *reason);

/* Answers status with a copy of body and the given content type. */
void sb_reply_text(sb_reply *r, int status, const char *content_type,
                   const char *body);

/* Answers 200 with size bytes read from fd, which the reply now owns. */
void sb_reply_file(sb_reply *r, int fd, uint64_t size,
                   const char *content_type);

/* Answers 400 {"error":"bad_request","reason":reason,"field":field}. */
void sb_reply_bad_field(sb_reply *r, const char *reason, const char *field);

/* Reads the optional string field of obj into *v (pointing into obj); null
 * counts as absent and leaves *v NULL. Answers 400 bad_field and returns -1
 * when the field has another type. */
int sb_field_string(json_t *obj, const char *field, const char **v,
                    sb_reply *out);

/* Reads the optional integer field of obj into *v when it lies in [min,
 * max]; *v keeps its default when the field is absent or null. Answers 400
 * bad_field and returns -1 otherwise. */
int sb_field_long(json_t *obj, const char *field, long min, long max,
                  long *v, sb_reply *out);

/* Parses the in-memory body as a JSON object. On failure answers 400
 * {"error":"bad_request","reason":"bad_json"} and returns NULL. */
json_t *sb_call_json_body(const sb_call *call, sb_reply *out);

/* True when s is a usable document id: 1 to SB_ID_MAX characters from
 * [A-Za-z0-9._-]. Ids are path segments of the API, hence the strictness. */
int sb_id_valid(const char *s);

#endif
