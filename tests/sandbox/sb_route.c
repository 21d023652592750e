/* sb_route.c - the sandbox's route table; see sb_route.h. */
#include "sb_route.h"

#include <string.h>

#include "sb_admin.h"
#include "sb_admin_chaos.h"
#include "sb_admin_session.h"
#include "sb_admin_strict.h"
#include "sb_crm.h"
#include "sb_list.h"
#include "sb_token.h"
#include "sb_tx.h"
#include "sb_tx_session.h"
#include "sb_vendor.h"

/* Longer ids are not valid anyway; the bound only protects the buffer. */
#define SEGMENT_MAX 256

static const sb_route routes[] = {
    {"GET", "/api/v1/documents/*", SB_KEY_CRM, SB_FAULT_CRM_META,
     SB_BODY_NONE, sb_crm_meta, 0, NULL, NULL},
    {"GET", "/api/v1/documents/*/content", SB_KEY_CRM, SB_FAULT_CRM_CONTENT,
     SB_BODY_NONE, sb_crm_content, 0, NULL, NULL},
    {"POST", "/v1/transactions/*/documents", SB_KEY_DEST, SB_FAULT_TX_UPLOAD,
     SB_BODY_FILE, sb_tx_upload, 1, NULL, sb_tx_upload_precheck},
    {"GET", "/v1/transactions/*/documents", SB_KEY_DEST, SB_FAULT_TX_SEARCH,
     SB_BODY_NONE, sb_tx_search, 0, NULL, NULL},
    {"GET", "/v1/documents/*", SB_KEY_DEST, SB_FAULT_TX_GET, SB_BODY_NONE,
     sb_tx_get, 0, NULL, NULL},
    {"POST", "/v1/transactions/*/upload-sessions", SB_KEY_DEST,
     SB_FAULT_TX_SESSION_START, SB_BODY_MEMORY, sb_tx_session_start, 1, NULL,
     NULL},
    {"PUT", "/v1/upload-sessions/*/parts/*", SB_KEY_DEST,
     SB_FAULT_TX_SESSION_PART, SB_BODY_FILE, sb_tx_session_part, 0, NULL,
     sb_tx_session_part_precheck},
    {"GET", "/v1/upload-sessions/*", SB_KEY_DEST, SB_FAULT_TX_SESSION_GET,
     SB_BODY_NONE, sb_tx_session_get, 0, NULL, NULL},
    {"POST", "/v1/upload-sessions/*/complete", SB_KEY_DEST,
     SB_FAULT_TX_SESSION_COMPLETE, SB_BODY_MEMORY, sb_tx_session_complete, 1,
     NULL, NULL},
    {"DELETE", "/v1/upload-sessions/*", SB_KEY_DEST, SB_FAULT_NONE,
     SB_BODY_NONE, sb_tx_session_delete, 0, NULL, NULL},
    {"GET", "/api/v1/documents", SB_KEY_CRM, SB_FAULT_CRM_LIST, SB_BODY_NONE,
     sb_list_documents, 0, NULL, NULL},
    {"GET", "/v1/transactions", SB_KEY_DEST, SB_FAULT_TX_ACCOUNTS,
     SB_BODY_NONE, sb_list_accounts, 0, NULL, NULL},
    {"GET", "/vendor/crm/v2/files/*", SB_KEY_CRM, SB_FAULT_CRM_META,
     SB_BODY_NONE, sb_vendor_file, 0, "vendor-crm", NULL},
    {"GET", "/vendor/crm/v2/files/*/download", SB_KEY_CRM,
     SB_FAULT_CRM_CONTENT, SB_BODY_NONE, sb_crm_content, 0, "vendor-crm", NULL},
    {"POST", "/vendor/tx/public/v2/loop/*/document", SB_KEY_DEST,
     SB_FAULT_TX_UPLOAD, SB_BODY_FILE, sb_vendor_upload, 1, "vendor-tx", NULL},
    {"GET", "/vendor/tx/public/v2/loop/*/document", SB_KEY_DEST,
     SB_FAULT_TX_SEARCH, SB_BODY_NONE, sb_vendor_search, 0, "vendor-tx", NULL},
    {"GET", "/vendor/tx/public/v2/loop/*/document/*", SB_KEY_DEST,
     SB_FAULT_TX_GET, SB_BODY_NONE, sb_vendor_get, 0, "vendor-tx", NULL},
    {"POST", "/oauth/token", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_token_endpoint, 0, NULL, NULL},
    {"GET", "/admin/config", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_config_get, 0, NULL, NULL},
    {"POST", "/admin/config", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_config_set, 0, NULL, NULL},
    {"GET", "/admin/refusals", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_refusals, 0, NULL, NULL},
    {"POST", "/admin/oauth/refresh-token", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_oauth_refresh, 0, NULL, NULL},
    {"POST", "/admin/oauth/revoke", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_oauth_revoke, 0, NULL, NULL},
    {"POST", "/admin/tx/accounts", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_tx_accounts, 0, NULL, NULL},
    {"POST", "/admin/crm/documents", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_crm_add, 0, NULL, NULL},
    {"POST", "/admin/crm/webhooks/thin", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_crm_thin, 0, NULL, NULL},
    {"DELETE", "/admin/crm/documents/*", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_NONE, sb_admin_crm_delete, 0, NULL, NULL},
    {"GET", "/admin/tx/documents", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_tx_list, 0, NULL, NULL},
    {"GET", "/admin/tx/sessions", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_sessions_list, 0, NULL, NULL},
    {"POST", "/admin/tx/sessions/expire", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_sessions_expire, 0, NULL, NULL},
    {"POST", "/admin/faults", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_faults, 0, NULL, NULL},
    {"POST", "/admin/chaos", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_chaos_set, 0, NULL, NULL},
    {"GET", "/admin/chaos", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_chaos_get, 0, NULL, NULL},
    {"POST", "/admin/reset", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_reset, 0, NULL, NULL},
    {"GET", "/healthz", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_health, 0, NULL, NULL},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches path against pattern segment by segment. A "*" takes one
 * non-empty segment, copied into seg[0], the next one into seg[1].
 * Returns 1 on a match. */
static int match_path(const char *pattern, const char *path,
                      char seg[2][SEGMENT_MAX + 1])
{
    int nseg = 0;

    seg[0][0] = seg[1][0] = '\0';
    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");

            if (n == 0 || n > SEGMENT_MAX || nseg >= 2)
                return 0;
            memcpy(seg[nseg], path, n);
            seg[nseg++][n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

static void add_allowed(char *allow, size_t cap, const char *method)
{
    size_t used = strlen(allow);

    if (strstr(allow, method) != NULL)
        return;
    if (used > 0 && used + 2 < cap) {
        memcpy(allow + used, ", ", 3);
        used += 2;
    }
    if (used + strlen(method) < cap)
        memcpy(allow + used, method, strlen(method) + 1);
}

sb_match sb_route_find(const char *method, const char *path,
                       const sb_route **route, char param[SB_ID_MAX + 1],
                       char param2[SB_ID_MAX + 1], char *allow,
                       size_t allow_cap)
{
    char seg[2][SEGMENT_MAX + 1];
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int path_known = 0;

    if (allow_cap > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!match_path(routes[i].pattern, path, seg))
            continue;
        path_known = 1;
        if (strcmp(routes[i].method, want) != 0) {
            add_allowed(allow, allow_cap, routes[i].method);
            continue;
        }
        for (int k = 0; k < 2; k++)
            if (seg[k][0] != '\0' && !sb_id_valid(seg[k]))
                return SB_MATCH_BAD_ID;
        memcpy(param, seg[0], strlen(seg[0]) + 1);
        memcpy(param2, seg[1], strlen(seg[1]) + 1);
        *route = &routes[i];
        return SB_MATCH_OK;
    }
    return path_known ? SB_MATCH_BAD_METHOD : SB_MATCH_NO_ROUTE;
}
