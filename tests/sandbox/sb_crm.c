/* sb_crm.c - the CRM's routes; see sb_crm.h. */
#include "sb_crm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sb_log.h"

/* The fields a CRM client may see; "path" stays private. */
static const char *const public_fields[] = {
    "id", "accountId", "fileName", "mimeType", "size", "description",
    "createdAt"
};

json_t *sb_crm_public(json_t *rec)
{
    json_t *pub = json_object();
    size_t n = sizeof(public_fields) / sizeof(public_fields[0]);

    for (size_t i = 0; pub != NULL && i < n; i++)
        json_object_set(pub, public_fields[i],
                        json_object_get(rec, public_fields[i]));
    return pub;
}

void sb_crm_meta(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *rec = sb_state_crm_get(ctx->state, call->param);

    if (rec == NULL)
        sb_reply_error(out, 404, "not_found", NULL);
    else
        sb_reply_json(out, 200, sb_crm_public(rec));
    json_decref(rec);
}

void sb_crm_content(const sb_ctx *ctx, const sb_call *call, sb_reply *out)
{
    json_t *rec = sb_state_crm_get(ctx->state, call->param);
    const char *path = json_string_value(json_object_get(rec, "path"));
    const char *mime = json_string_value(json_object_get(rec, "mimeType"));
    struct stat sb;
    int fd = -1;

    if (rec == NULL) {
        sb_reply_error(out, 404, "not_found", NULL);
        goto out;
    }
    /* The file is read at request time: a test may change or remove it to
     * see how the fetcher copes. */
    fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        sb_log_msg("warn", "content unreadable",
                   json_pack("{s:s}", "documentId", call->param));
        sb_reply_error(out, 500, "internal", "content_unreadable");
        goto out;
    }
    sb_reply_file(out, fd, (uint64_t)sb.st_size,
                  mime != NULL ? mime : "application/octet-stream");
    fd = -1;

out:
    if (fd >= 0)
        close(fd);
    json_decref(rec);
}
