/*
 * vendor_server.h - a tiny API in the test process, shaped unlike the
 * standard sandbox, to prove that the stages follow the connector's routes
 * and field names and nothing built in.
 *
 * CRM: GET /vendor/crm/v2/files/{id} answers {"file": {"fileId": 7,
 * "owner": {"accountId": ...}, "title", "mimeType", "byteSize",
 * "createdDate"}} and GET .../download the sample's bytes; both demand
 * "X-Vendor-Key: vk" and "Ocp-Apim-Subscription-Key: sub-key".
 * Transaction system: POST /vendor/tx/public/v2/loop/{txn}/document with
 * {"name", "sourceRef", "createdOn" (integer), "base64Content"} answers 201
 * {"data": {"id": <integer>, ...}}; GET .../document/{id} and
 * GET .../document?sourceRef=D give {"data": doc} and {"data": [docs]},
 * with "hash": {"md5": base64}; all demand "Authorization: Bearer tok".
 * Works with tests/unit/data/connector/vendor_test.json (VENDOR_URL).
 *
 * Header-only, like fixture.h; include it after fixture.h.
 */
#ifndef VENDOR_SERVER_H
#define VENDOR_SERVER_H

#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>

#define VS_CONNECTOR "tests/unit/data/connector/vendor_test.json"
#define VS_MAX_DOCS 8

typedef struct vs_doc {
    long id;
    char name[128], loop[64], source_ref[64], md5_b64[32];
    long long size, created_on;
} vs_doc;

typedef struct vendor_server {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t lock;
    char *content;            /* what .../download sends */
    size_t content_len;
    int omit_title;           /* the CRM's answer lacks file.title */
    vs_doc docs[VS_MAX_DOCS];
    int n_docs, uploads;
    json_t *last_upload;      /* the last upload's body, content dropped */
    char last_idem[320];
} vendor_server;

typedef struct vs_body {
    char *data;
    size_t len;
} vs_body;

static inline enum MHD_Result vs_send(struct MHD_Connection *c, int status,
                                      json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), text, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;

    MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    json_decref(body);
    return rc;
}

static inline int vs_header_is(struct MHD_Connection *c, const char *name,
                               const char *want)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

    return v != NULL && strcmp(v, want) == 0;
}

static inline json_t *vs_doc_json(const vs_doc *d)
{
    return json_pack("{s:I,s:s,s:I,s:s,s:s,s:{s:s}}", "id", (json_int_t)d->id,
                     "name", d->name, "size", (json_int_t)d->size,
                     "loopId", d->loop, "sourceRef", d->source_ref,
                     "hash", "md5", d->md5_b64);
}

static inline enum MHD_Result vs_crm(vendor_server *vs,
                                     struct MHD_Connection *c,
                                     const char *url)
{
    char id[64], rest[16] = "";
    struct MHD_Response *r;
    enum MHD_Result rc;

    if (!vs_header_is(c, "X-Vendor-Key", "vk") ||
        !vs_header_is(c, "Ocp-Apim-Subscription-Key", "sub-key"))
        return vs_send(c, 401, json_pack("{s:s}", "error", "unauthorized"));
    if (sscanf(url, "/vendor/crm/v2/files/%63[^/]/%15s", id, rest) < 1)
        return vs_send(c, 404, NULL);
    if (strcmp(rest, "download") == 0) {
        r = MHD_create_response_from_buffer(vs->content_len, vs->content,
                                            MHD_RESPMEM_PERSISTENT);
        rc = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return rc;
    }
    json_t *file = json_pack("{s:i,s:{s:s},s:s,s:I,s:s}", "fileId", 7,
                             "owner", "accountId", "acc_9", "mimeType",
                             "application/pdf", "byteSize",
                             (json_int_t)vs->content_len, "createdDate",
                             "2026-12-03T18:00:01.250+01:00");
    if (!vs->omit_title)
        json_object_set_new(file, "title", json_string("offer.pdf"));
    return vs_send(c, 200, json_pack("{s:o}", "file", file));
}

/* Stores an uploaded document; the body's rules are the vendor's. */
static inline enum MHD_Result vs_upload(vendor_server *vs,
                                        struct MHD_Connection *c,
                                        const char *loop, const vs_body *b)
{
    json_t *body = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
    const char *content = json_string_value(json_object_get(body,
                                                            "base64Content"));
    unsigned char *bytes, md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    const char *idem;
    vs_doc *d;
    long n;

    if (content == NULL || vs->n_docs == VS_MAX_DOCS ||
        !json_is_string(json_object_get(body, "name")) ||
        !json_is_string(json_object_get(body, "sourceRef")) ||
        !json_is_integer(json_object_get(body, "createdOn"))) {
        json_decref(body);
        return vs_send(c, 400, json_pack("{s:s}", "error", "bad body"));
    }
    bytes = malloc(strlen(content) + 3);
    n = ds_b64_decode(content, strlen(content), bytes);
    EVP_Digest(bytes, n > 0 ? (size_t)n : 0, md, &md_len, EVP_md5(), NULL);
    free(bytes);
    d = &vs->docs[vs->n_docs++];
    d->id = 1000 + vs->n_docs;
    snprintf(d->name, sizeof(d->name), "%s",
             json_string_value(json_object_get(body, "name")));
    snprintf(d->loop, sizeof(d->loop), "%s", loop);
    snprintf(d->source_ref, sizeof(d->source_ref), "%s",
             json_string_value(json_object_get(body, "sourceRef")));
    EVP_EncodeBlock((unsigned char *)d->md5_b64, md, (int)md_len);
    d->size = n;
    d->created_on = json_integer_value(json_object_get(body, "createdOn"));
    vs->uploads++;
    idem = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    snprintf(vs->last_idem, sizeof(vs->last_idem), "%s", idem ? idem : "");
    json_object_del(body, "base64Content");
    json_decref(vs->last_upload);
    vs->last_upload = body;
    return vs_send(c, 201, json_pack("{s:{s:I,s:s,s:s}}", "data", "id",
                                     (json_int_t)d->id, "name", d->name,
                                     "loopId", d->loop));
}

static inline enum MHD_Result vs_tx(vendor_server *vs,
                                    struct MHD_Connection *c,
                                    const char *method, const char *url,
                                    const vs_body *b)
{
    char loop[64], tail[64] = "";
    const char *ref;
    json_t *list;
    int i;

    if (!vs_header_is(c, "Authorization", "Bearer tok"))
        return vs_send(c, 401, json_pack("{s:s}", "error", "invalid_token"));
    if (sscanf(url, "/vendor/tx/public/v2/loop/%63[^/]/document/%63s", loop,
               tail) < 1)
        return vs_send(c, 404, NULL);
    if (strcmp(method, "POST") == 0 && tail[0] == '\0')
        return vs_upload(vs, c, loop, b);
    ref = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sourceRef");
    list = json_array();
    for (i = 0; i < vs->n_docs; i++) {
        const vs_doc *d = &vs->docs[i];

        if (tail[0] != '\0' && atol(tail) == d->id)
            return json_decref(list),
                   vs_send(c, 200, json_pack("{s:o}", "data", vs_doc_json(d)));
        if (tail[0] == '\0' && ref != NULL &&
            strcmp(ref, d->source_ref) == 0 && strcmp(loop, d->loop) == 0)
            json_array_append_new(list, vs_doc_json(d));
    }
    if (tail[0] != '\0') {
        json_decref(list);
        return vs_send(c, 404, json_pack("{s:s}", "error", "not_found"));
    }
    return vs_send(c, 200, json_pack("{s:o}", "data", list));
}

static inline enum MHD_Result vs_handle(void *cls, struct MHD_Connection *c,
                                        const char *url, const char *method,
                                        const char *version,
                                        const char *upload, size_t *upload_len,
                                        void **con_cls)
{
    vendor_server *vs = cls;
    vs_body *b = *con_cls;
    enum MHD_Result rc;

    (void)version;
    if (b == NULL) {
        *con_cls = calloc(1, sizeof(vs_body));
        return *con_cls != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_len > 0) {
        char *grown = realloc(b->data, b->len + *upload_len + 1);

        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + b->len, upload, *upload_len);
        b->data = grown;
        b->len += *upload_len;
        *upload_len = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&vs->lock);
    if (strncmp(url, "/vendor/crm/", 12) == 0)
        rc = vs_crm(vs, c, url);
    else if (strncmp(url, "/vendor/tx/", 11) == 0)
        rc = vs_tx(vs, c, method, url, b);
    else
        rc = vs_send(c, 404, NULL);
    pthread_mutex_unlock(&vs->lock);
    return rc;
}

static inline void vs_done(void *cls, struct MHD_Connection *c,
                           void **con_cls, enum MHD_RequestTerminationCode t)
{
    vs_body *b = *con_cls;

    (void)cls;
    (void)c;
    (void)t;
    if (b != NULL)
        free(b->data);
    free(b);
    *con_cls = NULL;
}

/* Starts the server on a free port, serving the file at content_path, and
 * sets VENDOR_URL and the secrets vendor_test.json reads. */
static inline void vs_start(vendor_server *vs, const char *content_path)
{
    const union MHD_DaemonInfo *info;
    FILE *fp = fopen(content_path, "rb");

    memset(vs, 0, sizeof(*vs));
    pthread_mutex_init(&vs->lock, NULL);
    assert_non_null(fp);
    vs->content_len = (size_t)fx_file_size(content_path);
    vs->content = malloc(vs->content_len);
    assert_int_equal(fread(vs->content, 1, vs->content_len, fp),
                     vs->content_len);
    fclose(fp);
    vs->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                             vs_handle, vs, MHD_OPTION_NOTIFY_COMPLETED,
                             vs_done, vs, MHD_OPTION_END);
    assert_non_null(vs->d);
    info = MHD_get_daemon_info(vs->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(vs->url, sizeof(vs->url), "http://127.0.0.1:%u",
             (unsigned)info->port);
    setenv("VENDOR_URL", vs->url, 1);
    setenv("VENDOR_KEY", "vk", 1);
    setenv("VENDOR_SUBSCRIPTION_KEY", "sub-key", 1);
    setenv("VENDOR_TOKEN", "tok", 1);
}

static inline void vs_stop(vendor_server *vs)
{
    if (vs->d != NULL)
        MHD_stop_daemon(vs->d);
    free(vs->content);
    json_decref(vs->last_upload);
    pthread_mutex_destroy(&vs->lock);
    memset(vs, 0, sizeof(*vs));
}

#endif
