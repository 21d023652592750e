/* sb_route.c - the sandbox's route table; see sb_route.h. */
#include "sb_route.h"

#include <string.h>

#include "sb_admin.h"
#include "sb_admin_chaos.h"
#include "sb_crm.h"
#include "sb_tx.h"

/* Longer ids are not valid anyway; the bound only protects the buffer. */
#define SEGMENT_MAX 256

static const sb_route routes[] = {
    {"GET", "/api/v1/documents/*", SB_KEY_CRM, SB_FAULT_CRM_META,
     SB_BODY_NONE, sb_crm_meta, 0},
    {"GET", "/api/v1/documents/*/content", SB_KEY_CRM, SB_FAULT_CRM_CONTENT,
     SB_BODY_NONE, sb_crm_content, 0},
    {"POST", "/v1/transactions/*/documents", SB_KEY_DEST, SB_FAULT_TX_UPLOAD,
     SB_BODY_FILE, sb_tx_upload, 1},
    {"GET", "/v1/transactions/*/documents", SB_KEY_DEST, SB_FAULT_TX_SEARCH,
     SB_BODY_NONE, sb_tx_search, 0},
    {"GET", "/v1/documents/*", SB_KEY_DEST, SB_FAULT_TX_GET, SB_BODY_NONE,
     sb_tx_get, 0},
    {"POST", "/admin/crm/documents", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_crm_add, 0},
    {"POST", "/admin/crm/webhooks/thin", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_MEMORY, sb_admin_crm_thin, 0},
    {"DELETE", "/admin/crm/documents/*", SB_KEY_NONE, SB_FAULT_NONE,
     SB_BODY_NONE, sb_admin_crm_delete, 0},
    {"GET", "/admin/tx/documents", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_tx_list, 0},
    {"POST", "/admin/faults", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_faults, 0},
    {"POST", "/admin/chaos", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_chaos_set, 0},
    {"GET", "/admin/chaos", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_chaos_get, 0},
    {"POST", "/admin/reset", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_MEMORY,
     sb_admin_reset, 0},
    {"GET", "/healthz", SB_KEY_NONE, SB_FAULT_NONE, SB_BODY_NONE,
     sb_admin_health, 0},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches path against pattern segment by segment. A "*" takes one
 * non-empty segment, copied into seg. Returns 1 on a match. */
static int match_path(const char *pattern, const char *path,
                      char seg[SEGMENT_MAX + 1])
{
    seg[0] = '\0';
    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");

            if (n == 0 || n > SEGMENT_MAX)
                return 0;
            memcpy(seg, path, n);
            seg[n] = '\0';
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
                       char *allow, size_t allow_cap)
{
    char seg[SEGMENT_MAX + 1];
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
        if (seg[0] != '\0' && !sb_id_valid(seg))
            return SB_MATCH_BAD_ID;
        memcpy(param, seg, strlen(seg) + 1);
        *route = &routes[i];
        return SB_MATCH_OK;
    }
    return path_known ? SB_MATCH_BAD_METHOD : SB_MATCH_NO_ROUTE;
}
