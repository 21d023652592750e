/*
 * raw_crm.h - a CRM in the test process that answers exactly the bytes a
 * test gives it, for the metadata the sandbox's JSON admin API cannot
 * describe: a field left out or null, bytes that are not UTF-8, a size
 * past 4 GiB. Routes of the built-in connector, any key accepted:
 *   GET /api/v1/documents/{id}          200, the metadata bytes as set
 *   GET /api/v1/documents/{id}/content  200, the content bytes as set
 *
 * Header-only, like fixture.h; include it after fixture.h.
 */
#ifndef RAW_CRM_H
#define RAW_CRM_H

#include <microhttpd.h>
#include <pthread.h>

typedef struct raw_crm {
    struct MHD_Daemon *d;
    char url[64];              /* "http://127.0.0.1:<port>" */
    pthread_mutex_t lock;
    char *meta;                /* the metadata answer, as bytes */
    size_t meta_len;
    char *content;             /* the content answer */
    size_t content_len;
} raw_crm;

/* Replaces *dst with a copy of the n bytes at src. */
static inline void rc_copy(raw_crm *c, char **dst, size_t *dst_len,
                           const void *src, size_t n)
{
    pthread_mutex_lock(&c->lock);
    free(*dst);
    *dst = malloc(n > 0 ? n : 1);
    assert_non_null(*dst);
    memcpy(*dst, src, n);
    *dst_len = n;
    pthread_mutex_unlock(&c->lock);
}

/* The metadata answer: n bytes, sent as they are. */
static inline void rc_set_meta(raw_crm *c, const void *bytes, size_t n)
{
    rc_copy(c, &c->meta, &c->meta_len, bytes, n);
}

/* The content answer: n bytes. */
static inline void rc_set_content(raw_crm *c, const void *bytes, size_t n)
{
    rc_copy(c, &c->content, &c->content_len, bytes, n);
}

/* The content answer: the bytes of the file at path. */
static inline void rc_set_content_file(raw_crm *c, const char *path)
{
    size_t n = (size_t)fx_file_size(path);
    char *bytes = malloc(n > 0 ? n : 1);
    FILE *fp = fopen(path, "rb");

    assert_non_null(bytes);
    assert_non_null(fp);
    assert_int_equal(fread(bytes, 1, n, fp), n);
    fclose(fp);
    rc_set_content(c, bytes, n);
    free(bytes);
}

static inline enum MHD_Result rc_handle(void *cls, struct MHD_Connection *conn,
                                        const char *url, const char *method,
                                        const char *version,
                                        const char *upload, size_t *upload_len,
                                        void **con_cls)
{
    raw_crm *c = cls;
    struct MHD_Response *r;
    enum MHD_Result rc;
    size_t n = strlen(url);
    int content = n > 8 && strcmp(url + n - 8, "/content") == 0;

    (void)method;
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    pthread_mutex_lock(&c->lock);
    if (strncmp(url, "/api/v1/documents/", 18) != 0)
        r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    else if (content)
        r = MHD_create_response_from_buffer(c->content_len, c->content,
                                            MHD_RESPMEM_MUST_COPY);
    else
        r = MHD_create_response_from_buffer(c->meta_len, c->meta,
                                            MHD_RESPMEM_MUST_COPY);
    pthread_mutex_unlock(&c->lock);
    if (!content)
        MHD_add_response_header(r, "Content-Type", "application/json");
    rc = MHD_queue_response(conn, strncmp(url, "/api/v1/documents/", 18) == 0
                                      ? 200 : 404, r);
    MHD_destroy_response(r);
    return rc;
}

/* Starts the CRM on a free port with an empty object as metadata and no
 * content. */
static inline void rc_start(raw_crm *c)
{
    const union MHD_DaemonInfo *info;

    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    rc_set_meta(c, "{}", 2);
    rc_set_content(c, "", 0);
    c->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                            rc_handle, c, MHD_OPTION_END);
    assert_non_null(c->d);
    info = MHD_get_daemon_info(c->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%u",
             (unsigned)info->port);
}

/* Stops the CRM; safe on one that never started. */
static inline void rc_stop(raw_crm *c)
{
    if (c->d != NULL)
        MHD_stop_daemon(c->d);
    c->d = NULL;
    free(c->meta);
    free(c->content);
    c->meta = c->content = NULL;
    if (c->url[0] != '\0')
        pthread_mutex_destroy(&c->lock);
    c->url[0] = '\0';
}

#endif
