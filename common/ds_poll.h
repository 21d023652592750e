/*
 * ds_poll.h - reading new documents from the CRM's listing instead of
 * waiting for webhooks.
 *
 * One round lists the documents created since the cursor minus an overlap
 * window (the CRM's clock and ours may disagree), page after page while the
 * answer names a next cursor, and hands each document to an emit function
 * as a DOCUMENT_CREATED event with the deterministic eventId
 * "poll:<documentId>", so that a document read twice is a duplicate for
 * the dedupe. Only when every event of a page is in Kafka is the cursor
 * moved, in Redis under DS_POLL_CURSOR_KEY as {"since": "<RFC 3339 ms>"}:
 * a page that fails is read again on the next round.
 *
 * The HTTP call and the production are function pointers, so that the
 * stage decides which client and which producer they go through.
 */
#ifndef DS_POLL_H
#define DS_POLL_H

#include <jansson.h>

#include "ds_error.h"
#include "ds_redis.h"

#define DS_POLL_CURSOR_KEY "docsync:poll:cursor"

/* How a time is written: {since} in the listing's path
 * (source.list.sinceFormat) and the items' createdAt
 * (source.list.createdAtFormat). */
enum { DS_POLL_RFC3339, DS_POLL_EPOCH_S, DS_POLL_EPOCH_MS };

/* What polling needs of a connector's "source" section. */
typedef struct ds_poll_cfg {
    char list[512];        /* source.endpoints.list, with {since} */
    char list_next[512];   /* source.endpoints.listNext, with {cursor}
                            * and maybe {since} */
    char items[128];       /* source.list.items: the page's array */
    char next_cursor[128]; /* source.list.nextCursor */
    char created_at[128];  /* source.list.createdAt */
    int since_format;      /* source.list.sinceFormat: DS_POLL_RFC3339... */
    int created_format;    /* source.list.createdAtFormat */
    char document_id[128]; /* source.fields.documentId.from ("id") */
    char account_id[128];  /* source.fields.accountId.from ("accountId") */
    char file_name[128];   /* source.fields.fileName.from ("fileName") */
} ds_poll_cfg;

/* Fills cfg from a connector object (the whole connector file's JSON; only
 * "source" is read). Returns 0, or -1 with err "bad_connector" naming the
 * first bad field by its dotted path, e.g.
 * "source.endpoints.listNext: missing". */
int ds_poll_cfg_parse(const json_t *connector, ds_poll_cfg *cfg,
                      ds_err *err);

/* GETs path on the CRM and returns the JSON object it answers (new
 * reference), or NULL with err set. */
typedef json_t *(*ds_poll_get_fn)(void *ctx, const char *path, ds_err *err);

/* Produces event through the dedupe and waits for its delivery report.
 * Returns 1 when produced, 0 when a duplicate of one already in Kafka, 2
 * when the event can never be produced (the stage refuses it; it is
 * skipped, not retried), -1 with err set when it is not known to be in
 * Kafka. */
typedef int (*ds_poll_emit_fn)(void *ctx, json_t *event, ds_err *err);

/* Where a round reads and writes. */
typedef struct ds_poll_io {
    ds_poll_get_fn get;
    ds_poll_emit_fn emit;
    void *ctx;               /* passed to get and emit */
    ds_redis *redis;         /* holds the cursor */
    long overlap_ms;         /* read again from since minus this */
    long long start_ms;      /* since, when there is no cursor yet */
} ds_poll_io;

/* What a round did, also when it failed half-way. */
typedef struct ds_poll_stats {
    long pages;              /* pages read whole and produced */
    long events;             /* events produced new */
    long duplicates;         /* events the dedupe knew */
    long skipped;            /* items without a usable id or createdAt,
                              * or refused by emit */
    char skip_note[256];     /* the first skipped item of the round and
                              * why, e.g. "item 2 of a page (id 7):
                              * createdAt is not an epoch_ms time"; "" */
    long long since_ms;      /* the cursor when the round ended */
} ds_poll_stats;

/* Runs one round: from the cursor (or io->start_ms, then stored as the
 * cursor so that a restart keeps it) minus the overlap,
 * every page until the answer names no next cursor, or until ds_loop is
 * stopping (checked between pages, so a page is always finished). Returns
 * 0, or -1 with err set: the pages before the failure are kept, the
 * failing one is read again next time. */
int ds_poll_round(const ds_poll_cfg *cfg, const ds_poll_io *io,
                  ds_poll_stats *st, ds_err *err);

/* Reads an RFC 3339 time with optional milliseconds into ms since the
 * epoch. Returns 0 or -1. */
int ds_poll_parse_ms(const char *text, long long *ms);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ds_poll_format_ms(long long ms, char out[32]);

#endif
