/* sb_webhook.c - the CRM's webhook; see sb_webhook.h. */
#include "sb_webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ds_crypto.h"
#include "sb_log.h"

#define CONNECT_TIMEOUT_MS 2000L
#define TOTAL_TIMEOUT_MS 10000L

char *sb_webhook_event(const char *event_id, const char *document_id,
                       const char *account_id, const char *file_name)
{
    char ts[21];
    json_t *ev;
    char *text;

    sb_log_now_iso(ts);
    ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "eventId", event_id,
                   "eventType", "DOCUMENT_CREATED", "documentId",
                   document_id, "accountId", account_id, "fileName",
                   file_name, "timestamp", ts);
    if (ev == NULL)
        return NULL;
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

/* The resourceUri of a thin event: /api/v1/documents?ids=a,b,c, or NULL
 * when an id is not a string or out of memory. The caller frees it. */
static char *thin_uri(json_t *ids)
{
    size_t i, cap = 32;
    json_t *id;
    char *uri;

    json_array_foreach(ids, i, id) {
        if (!json_is_string(id))
            return NULL;
        cap += json_string_length(id) + 1;
    }
    uri = malloc(cap);
    if (uri == NULL)
        return NULL;
    strcpy(uri, "/api/v1/documents?ids=");
    json_array_foreach(ids, i, id) {
        if (i > 0)
            strcat(uri, ",");
        strcat(uri, json_string_value(id));
    }
    return uri;
}

char *sb_webhook_thin_event(const char *event_id, json_t *document_ids,
                            const char *timestamp)
{
    char *uri = json_is_array(document_ids) ? thin_uri(document_ids) : NULL;
    json_t *ev;
    char *text;

    ev = json_pack("{s:s,s:s,s:O,s:s?,s:s}", "eventId", event_id,
                   "eventType", "DOCUMENTS_CREATED", "documentIds",
                   document_ids, "resourceUri", uri, "timestamp", timestamp);
    free(uri);
    if (ev == NULL)
        return NULL;
    text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    return text;
}

/* Ingest's answer, kept up to MAX_ANSWER bytes when user is a buffer. */
#define MAX_ANSWER 65536

typedef struct answer_buf {
    char *data;
    size_t len;
} answer_buf;

static size_t keep(char *ptr, size_t size, size_t n, void *user)
{
    answer_buf *b = user;
    char *grown;

    if (b == NULL || b->len + size * n > MAX_ANSWER)
        return size * n;
    grown = realloc(b->data, b->len + size * n + 1);
    if (grown == NULL)
        return size * n;
    b->data = grown;
    memcpy(b->data + b->len, ptr, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* Appends one header to a non-empty list. Returns the list, or NULL after
 * freeing it when out of memory. */
static struct curl_slist *append(struct curl_slist *list, const char *h)
{
    struct curl_slist *grown = curl_slist_append(list, h);

    if (grown == NULL)
        curl_slist_free_all(list);
    return grown;
}

/* Builds the header list: content type and signature. NULL on failure. */
static struct curl_slist *make_headers(const sb_webhook_target *t,
                                       const char *body, size_t len,
                                       const char *signature)
{
    char hex[DS_SHA256_HEX_LEN + 1];
    struct curl_slist *list;
    char *line = NULL;
    size_t cap;

    if (signature == NULL) {
        if (ds_hmac_sha256_hex(t->secret, strlen(t->secret), body, len,
                               hex) != 0)
            return NULL;
        signature = hex;
    }
    cap = strlen(t->signature_header) + strlen(signature) + 3;
    line = malloc(cap);
    if (line == NULL)
        return NULL;
    snprintf(line, cap, "%s: %s", t->signature_header, signature);

    list = curl_slist_append(NULL, "Content-Type: application/json");
    if (list != NULL)
        list = append(list, line);
    /* No "Expect: 100-continue" round trip: ingest answers at once. */
    if (list != NULL)
        list = append(list, "Expect:");
    free(line);
    return list;
}

/* POSTs once; keeps the answer in b unless b is NULL. */
static int post(const sb_webhook_target *t, const char *body, size_t len,
                const char *signature, answer_buf *b)
{
    struct curl_slist *headers = make_headers(t, body, len, signature);
    CURL *curl = curl_easy_init();
    long status = 0;

    if (headers == NULL || curl == NULL)
        goto out;
    curl_easy_setopt(curl, CURLOPT_URL, t->url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    /* Threads: no SIGALRM-based DNS timeouts. */
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    return (int)status;
}

int sb_webhook_post(const sb_webhook_target *t, const char *body,
                    size_t len, const char *signature)
{
    return post(t, body, len, signature, NULL);
}

int sb_webhook_post_answer(const sb_webhook_target *t, const char *body,
                           size_t len, json_t **answer)
{
    answer_buf b = {NULL, 0};
    int status = post(t, body, len, NULL, &b);

    *answer = b.data != NULL ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    free(b.data);
    return status;
}
