#!/usr/bin/env bash
# strict.sh - starts bin/docsync-sandbox with a strict-mode configuration
# (SANDBOX_CONFIG) and checks each strict feature against it: the config
# admin routes, the CRM listing and its pages, the accounts lookup, the
# vendor-shaped routes, webhook retries and duplicates, the four rate-limit
# styles, the refusal counts, and the OAuth2 token endpoint (grants,
# rotation, reuse, revocation, expiry). Needs curl, md5sum, base64 and
# python3 (hook_receiver.py beside this script).
#
#   tests/sandbox/strict.sh           from the repository root
set -u

# shellcheck source=tests/sandbox/lib.sh
. "$(dirname "$0")/lib.sh"

PDF=$SAMPLES/habibi.pdf
SUB_KEY=sub-test-key

# fresh_window MS: waits for the start of a fixed window of MS when less
# than 3 s of the current one is left, so that a few requests share one.
fresh_window() {
    python3 - "$1" <<'PY'
import sys, time
w = int(sys.argv[1])
left = w - int(time.time() * 1000) % w
if left < 3000:
    time.sleep(left / 1000 + 0.05)
PY
}

start_receiver() {
    HOOK_PORT=$(free_port)
    python3 "$(dirname "$0")/hook_receiver.py" "$HOOK_PORT" 1 \
        "$WORK/hooks.jsonl" &
    HOOK_PID=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$HOOK_PORT/" && break
        sleep 0.1
    done
}

write_config() {
    cat >"$WORK/config.json" <<JSON
{"subscriptionKey": {"header": "Ocp-Apim-Subscription-Key",
                     "value": "$SUB_KEY", "apis": ["vendor-crm"]},
 "webhooks": {"retryDelaysMs": [300, 300], "duplicateRate": 0}}
JSON
}

test_config() {
    check "config from file" "vendor-crm 300" "$(curl -s "$BASE/admin/config" |
        python3 -c 'import json,sys; d=json.load(sys.stdin)
print(d["subscriptionKey"]["apis"][0], d["webhooks"]["retryDelaysMs"][0])')"
    check "bad config refused" "400 rateLimit.crm.style" \
        "$(call POST /admin/config -d \
           '{"rateLimit":{"crm":{"requests":1,"windowMs":1,"style":"x"}}}') $(
           body '["field"]')"
    echo '{"rateLimit":{"tx":{"requests":0,"windowMs":5}}}' >"$WORK/bad.json"
    SANDBOX_CRM_API_KEY=k SANDBOX_DEST_API_KEY=k "$EXE" --port 0 \
        --data-dir "$WORK/bad" --config "$WORK/bad.json" >"$WORK/bad.log"
    check "bad config file exits 1 naming the field" "1 1" \
        "$? $(grep -c 'rateLimit.tx.requests' "$WORK/bad.log")"
    check "bad config changes nothing" "{}" \
        "$(curl -s "$BASE/admin/config" | json_field '.get("rateLimit", {})')"
    # A merge patch: the key given changes, its siblings stay, null removes.
    curl -s -o /dev/null -X POST "$BASE/admin/config" \
        -d '{"webhooks":{"duplicateRate":0.5}}'
    check "a POST merges objects key by key" "300 0.5" "$(curl -s "$BASE/admin/config" |
        python3 -c 'import json,sys; d=json.load(sys.stdin)["webhooks"]
print(d["retryDelaysMs"][0], d["duplicateRate"])')"
    curl -s -o /dev/null -X POST "$BASE/admin/config" \
        -d '{"webhooks":{"duplicateRate":null}}'
    check "null removes a key" "absent" "$(curl -s "$BASE/admin/config" |
        python3 -c 'import json,sys; d=json.load(sys.stdin)["webhooks"]
print(d.get("duplicateRate", "absent"))')"
}

# ids: the ids of the "data" list of the last call, comma-separated.
ids() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(",".join(str(x["id"]) for x in d["data"]))' "$WORK/b"
}

add_doc() { # documentId createdAt
    curl -s -X POST "$BASE/admin/crm/documents" -d "{\"accountId\":\"acc_1\",
        \"path\":\"$PDF\",\"documentId\":\"$1\",\"webhook\":false,
        \"createdAt\":\"$2\"}" >/dev/null
}

test_listing() {
    local crm=(-H "X-API-Key: $CRM_KEY") cur
    add_doc lst_late 2026-12-03T17:00:02.000Z
    add_doc lst_b 2026-12-03T17:00:00.000Z
    add_doc lst_a 2026-12-03T17:00:00.000Z
    add_doc lst_old 2026-12-03T16:00:00.000Z
    check "listing first page" "200 lst_a,lst_b" \
        "$(call GET '/api/v1/documents?createdSince=2026-12-03T17:00:00.000Z&limit=2' \
           "${crm[@]}") $(ids)"
    check "listing createdAt in ms" "2026-12-03T17:00:00.000Z" \
        "$(body '["data"][0]["createdAt"]')"
    cur=$(body '["nextCursor"]')
    check "listing has a next page" yes "$([ "$cur" != None ] && echo yes)"
    call GET "/api/v1/documents?cursor=$cur" "${crm[@]}" >/dev/null
    check "listing second page" "lst_late None" \
        "$(body '["data"][0]["id"]') $(body '["nextCursor"]')"
    check "listing bad limit" "400 limit" \
        "$(call GET '/api/v1/documents?limit=0' "${crm[@]}") $(
           body '["field"]')"
    check "listing bad createdSince" "400 createdSince" \
        "$(call GET '/api/v1/documents?createdSince=yesterday' "${crm[@]}") $(
           body '["field"]')"
    check "listing without key" 401 "$(call GET /api/v1/documents)"
    curl -s -X POST "$BASE/admin/faults" \
        -d '{"route":"crm_list","status":503}' >/dev/null
    check "listing fault queued" "503 200" "$(call GET /api/v1/documents \
        "${crm[@]}") $(call GET /api/v1/documents "${crm[@]}")"
}

accounts_of() {
    call GET "/v1/transactions?accountId=$1" -H "X-API-Key: $DEST_KEY" \
        >/dev/null
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
print(",".join(x["id"] + "@" + x["accountId"] for x in d["data"]))' "$WORK/b"
}

test_accounts() {
    curl -s -X POST "$BASE/admin/tx/accounts" \
        -d '{"accountId":"acc_one","transactionIds":["txn_1001"]}' >/dev/null
    curl -s -X POST "$BASE/admin/tx/accounts" -d \
        '{"accountId":"acc_many","transactionIds":["txn_1001","txn_1002"]}' \
        >/dev/null
    check "accounts none" "" "$(accounts_of acc_none)"
    check "accounts one" "txn_1001@acc_one" "$(accounts_of acc_one)"
    check "accounts many" "txn_1001@acc_many,txn_1002@acc_many" \
        "$(accounts_of acc_many)"
    curl -s -X POST "$BASE/admin/tx/accounts" \
        -d '{"accountId":"acc_one","transactionIds":[]}' >/dev/null
    check "accounts removed" "" "$(accounts_of acc_one)"
    curl -s -X POST "$BASE/admin/faults" \
        -d '{"route":"tx_accounts","status":502}' >/dev/null
    check "accounts fault queued" 502 \
        "$(call GET '/v1/transactions?accountId=a' -H "X-API-Key: $DEST_KEY")"
    check "accounts without accountId" 400 \
        "$(call GET /v1/transactions -H "X-API-Key: $DEST_KEY")"
}

vendor_body() { # name sourceRef createdOn file
    printf '{"name":"%s","sourceRef":"%s","createdOn":%s,"base64Content":"' \
        "$1" "$2" "$3"
    base64 -w0 "$4"
    printf '"}'
}

test_vendor() {
    local tx=(-H "X-API-Key: $DEST_KEY") sub=(-H "Ocp-Apim-Subscription-Key: $SUB_KEY")
    local v=/vendor/tx/public/v2/loop/txn_1001/document id md5
    add_doc ven_1 2026-12-03T17:00:00.000Z
    check "vendor file without subscription key" "401 subscription_key" \
        "$(call GET /vendor/crm/v2/files/ven_1 -H "X-API-Key: $CRM_KEY") $(
           body '["reason"]')"
    check "vendor file" "200 ven_1 acc_1 habibi.pdf 14957" \
        "$(call GET /vendor/crm/v2/files/ven_1 -H "X-API-Key: $CRM_KEY" \
           "${sub[@]}") $(body '["file"]["fileId"]') $(
           body '["file"]["owner"]["accountId"]') $(body '["file"]["title"]') $(
           body '["file"]["byteSize"]')"
    call GET /vendor/crm/v2/files/ven_1/download -H "X-API-Key: $CRM_KEY" \
        "${sub[@]}" >/dev/null
    check "vendor download bytes" same "$(cmp -s "$WORK/b" "$PDF" && echo same)"

    vendor_body habibi.pdf ven_1 1796317200000 "$PDF" >"$WORK/v.json"
    check "vendor upload" 201 "$(call POST "$v" "${tx[@]}" \
        -H 'Idempotency-Key: v1' --data-binary @"$WORK/v.json")"
    id=$(body '["data"]["id"]')
    check "vendor id is an integer" int \
        "$(body '["data"]["id"].__class__.__name__')"
    check "vendor upload replayed" "201 true $id" \
        "$(call POST "$v" "${tx[@]}" -H 'Idempotency-Key: v1' \
           --data-binary @"$WORK/v.json") $(hdr Idempotent-Replayed) $(
           body '["data"]["id"]')"
    md5=$(md5sum "$PDF" | cut -d' ' -f1 | xxd -r -p | base64)
    check "vendor get md5 base64" "200 $md5 14957 txn_1001 ven_1" \
        "$(call GET "$v/$id" "${tx[@]}") $(body '["data"]["hash"]["md5"]') $(
           body '["data"]["size"]') $(body '["data"]["loopId"]') $(
           body '["data"]["sourceRef"]')"
    check "vendor search" "1 $id" \
        "$(call GET "$v?sourceRef=ven_1" "${tx[@]}" >/dev/null;
           body '["data"].__len__()') $(body '["data"][0]["id"]')"
    check "vendor other loop" 404 \
        "$(call GET "/vendor/tx/public/v2/loop/txn_1002/document/$id" \
           "${tx[@]}")"
    vendor_body x.pdf ven_1 '"soon"' "$PDF" >"$WORK/v.json"
    check "vendor createdOn not integer" "400 createdOn" \
        "$(call POST "$v" "${tx[@]}" --data-binary @"$WORK/v.json") $(
           body '["field"]')"
    check "vendor missing name" "400 name" \
        "$(call POST "$v" "${tx[@]}" -d '{"sourceRef":"a","base64Content":""}') $(
           body '["field"]')"
}

# hooks_count: deliveries the receiver has seen.
hooks_count() { wc -l <"$WORK/hooks.jsonl" 2>/dev/null || echo 0; }

wait_hooks() { # N
    for _ in $(seq 50); do
        [ "$(hooks_count)" -ge "$1" ] && break
        sleep 0.1
    done
}

test_webhooks() {
    local r
    r=$(curl -s -X POST "$BASE/admin/crm/documents" \
        -d "{\"accountId\":\"acc_1\",\"path\":\"$PDF\"}")
    check "first attempt reported" "[500]" \
        "$(echo "$r" | json_field '["webhookStatuses"]')"
    wait_hooks 2
    check "retried after failure" "500 202" \
        "$(python3 -c 'import json,sys;
print(" ".join(str(json.loads(l)["status"]) for l in open(sys.argv[1])))' \
           "$WORK/hooks.jsonl")"
    check "retry same body and signature" 1 \
        "$(python3 -c 'import json,sys;
print(len({(json.loads(l)["body"], json.loads(l)["sig"]) for l in open(sys.argv[1])}))' \
           "$WORK/hooks.jsonl")"
    curl -s -X POST "$BASE/admin/config" \
        -d '{"webhooks":{"retryDelaysMs":[300],"duplicateRate":1}}' >/dev/null
    r=$(curl -s -X POST "$BASE/admin/crm/documents" \
        -d "{\"accountId\":\"acc_1\",\"path\":\"$PDF\"}")
    check "delivered at once" "[202]" \
        "$(echo "$r" | json_field '["webhookStatuses"]')"
    wait_hooks 4
    check "duplicate sent" "4 same" \
        "$(hooks_count) $(tail -2 "$WORK/hooks.jsonl" | python3 -c '
import json,sys; b = [json.loads(l)["body"] for l in sys.stdin]
print("same" if b[0] == b[1] else "differ")')"
    sleep 0.5
    check "one duplicate only" 4 "$(hooks_count)"
    curl -s -X POST "$BASE/admin/config" -d '{"webhooks":{}}' >/dev/null
}

set_limit() { # api requests windowMs style
    curl -s -X POST "$BASE/admin/config" -d "{\"rateLimit\":{\"$1\":
        {\"requests\":$2,\"windowMs\":$3,\"style\":\"$4\"}}}" >/dev/null
}

test_x_ratelimit() {
    local tx=(-H "X-API-Key: $DEST_KEY") reset
    set_limit tx 2 10000 x-ratelimit
    fresh_window 10000
    upload_body a.pdf lim_1 "$PDF" >"$WORK/up.json"
    check "x-ratelimit 2xx" "200 2 1" "$(call GET /v1/documents/tdoc_1 \
        "${tx[@]}") $(hdr X-RateLimit-Limit) $(hdr X-RateLimit-Remaining)"
    reset=$(hdr X-RateLimit-Reset)
    check "x-ratelimit reset in ms" yes \
        "$([ "$reset" -gt 0 ] && [ "$reset" -le 10000 ] && echo yes)"
    call GET /v1/documents/tdoc_1 "${tx[@]}" >/dev/null
    check "x-ratelimit 429" '429 0 rate_limited' "$(call POST \
        /v1/transactions/txn_1001/documents "${tx[@]}" -H "$JSON_TYPE" \
        --data-binary @"$WORK/up.json") $(hdr X-RateLimit-Remaining) $(
        body '["error"]')"
    check "429 not served" 0 "$(tx_count uploadsBySource lim_1)"
}

test_ratelimit() {
    local crm=(-H "X-API-Key: $CRM_KEY") t
    set_limit crm 2 20000 ratelimit
    fresh_window 20000
    check "ratelimit policy" "200 \"default\";q=2;w=20" \
        "$(call GET /api/v1/documents "${crm[@]}") $(hdr RateLimit-Policy)"
    t=$(hdr RateLimit | sed -n 's/^"default";r=1;t=\([0-9]*\)$/\1/p')
    check "ratelimit remaining and reset" yes \
        "$([ -n "$t" ] && [ "$t" -ge 1 ] && [ "$t" -le 20 ] && echo yes)"
    call GET /api/v1/documents "${crm[@]}" >/dev/null
    check "ratelimit 429" "429 \"default\";r=0" \
        "$(call GET /api/v1/documents "${crm[@]}") $(hdr RateLimit | cut -d';' -f1,2)"
}

test_retry_seconds() {
    local crm=(-H "X-API-Key: $CRM_KEY") s
    set_limit crm 1 30000 retry-after-seconds
    fresh_window 30000
    check "retry-after-seconds 2xx bare" "200 - -" \
        "$(call GET /api/v1/documents "${crm[@]}") $(hdr Retry-After) $(
           hdr X-RateLimit-Limit)"
    check "retry-after-seconds 429" 429 \
        "$(call GET /api/v1/documents "${crm[@]}")"
    s=$(hdr Retry-After)
    check "retry-after-seconds value" yes \
        "$([ "$s" -ge 1 ] && [ "$s" -le 30 ] && echo yes)"
}

test_retry_date() {
    local crm=(-H "X-API-Key: $CRM_KEY") d
    set_limit crm 1 40000 retry-after-date
    fresh_window 40000
    check "retry-after-date 2xx bare" "200 -" \
        "$(call GET /api/v1/documents "${crm[@]}") $(hdr Retry-After)"
    check "retry-after-date 429" 429 \
        "$(call GET /api/v1/documents "${crm[@]}")"
    d=$(hdr Retry-After)
    check "retry-after-date is a date in the window" yes "$(python3 -c '
import sys, time, email.utils
t = email.utils.parsedate_to_datetime(sys.argv[1]).timestamp()
print("yes" if time.time() - 1 <= t <= time.time() + 41 and
      sys.argv[1].endswith(" GMT") else "no")' "$d")"
}

# tx_upload SOURCE: uploads the sample as SOURCE; prints the new id.
tx_upload() {
    upload_body habibi.pdf "$1" "$PDF" >"$WORK/u.json"
    call POST /v1/transactions/txn_1001/documents -H "X-API-Key: $DEST_KEY" \
        -H "$JSON_TYPE" --data-binary @"$WORK/u.json" >/dev/null
    body '["id"]'
}

# A document answers its status ("processing" for tx.processingMs after
# its upload, then "stored") and an ETag: the quoted md5, or an opaque
# weak one with tx.etag "opaque".
test_tx_status() {
    local key=(-H "X-API-Key: $DEST_KEY") id md5
    md5=$(md5sum "$PDF" | cut -d' ' -f1)
    id=$(tx_upload st_1)
    check "document stored, ETag its quoted md5" "200 stored \"$md5\"" \
        "$(call GET "/v1/documents/$id" "${key[@]}") $(body '["status"]') $(
           hdr ETag)"
    check "bad tx.etag refused" "400 tx.etag" \
        "$(call POST /admin/config -d '{"tx":{"etag":"sha1"}}') $(
           body '["field"]')"
    check "bad tx.processingMs refused" "400 tx.processingMs" \
        "$(call POST /admin/config -d '{"tx":{"processingMs":-1}}') $(
           body '["field"]')"
    curl -s -o /dev/null -X POST "$BASE/admin/config" \
        -d '{"tx":{"processingMs":1500,"etag":"opaque"}}'
    id=$(tx_upload st_2)
    check "document processing, opaque ETag" '200 processing W/"abc123"' \
        "$(call GET "/v1/documents/$id" "${key[@]}") $(body '["status"]') $(
           hdr ETag)"
    sleep 1.7
    check "document stored after processingMs" "200 stored" \
        "$(call GET "/v1/documents/$id" "${key[@]}") $(body '["status"]')"
    curl -s -o /dev/null -X POST "$BASE/admin/config" -d '{"tx":null}'
    check "without tx config: stored at once" "200 stored \"$md5\"" \
        "$(call GET "/v1/documents/$(tx_upload st_3)" "${key[@]}") $(
           body '["status"]') $(hdr ETag)"
}

refusals() { # prints the named counts of GET /admin/refusals
    curl -s "$BASE/admin/refusals" | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(" ".join(str(eval(e, {"d": d})) for e in sys.argv[1:]))' "$@"
}

test_refusals() {
    check "refusals overLimit" "4 1 3 0" "$(refusals 'd["overLimit"]' \
        'd["byApi"]["tx"]["overLimit"]' 'd["byApi"]["crm"]["overLimit"]' \
        'd["badTokens"]')"
    curl -s -X POST "$BASE/admin/reset" >/dev/null
    check "reset zeroes refusals" "0 0 0" "$(refusals 'd["overLimit"]' \
        'd["badTokens"]' 'd["reusedRefreshTokens"]')"
    check "reset keeps config" 40000 "$(curl -s "$BASE/admin/config" |
        json_field '["rateLimit"]["crm"]["windowMs"]')"
}

# Twenty requests at once against a limit of five: the window is counted
# under a lock, so exactly five are served whatever the threads do.
test_parallel_limit() {
    set_limit crm 5 60000 x-ratelimit
    fresh_window 60000
    seq 20 | xargs -P 20 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
        -H "X-API-Key: $CRM_KEY" "$BASE/api/v1/documents" >"$WORK/par"
    check "parallel requests: five served" "5 15" \
        "$(grep -c '^200$' "$WORK/par") $(grep -c '^429$' "$WORK/par")"
    check "parallel refusals counted" 15 "$(refusals 'd["overLimit"]')"
}

oauth_config() { # accessTokenTtlS
    curl -s -X POST "$BASE/admin/config" -d "{\"rateLimit\":null,
      \"auth\":{\"crm\":{\"mode\":\"oauth2\"},\"tx\":{\"mode\":\"oauth2\"}},
      \"oauth2\":{\"accessTokenTtlS\":$1,\"clients\":[
        {\"clientId\":\"docsync-crm\",\"clientSecret\":\"crm-secret\",
         \"api\":\"crm\",\"grants\":[\"client_credentials\"]},
        {\"clientId\":\"docsync-tx\",\"clientSecret\":\"tx-secret\",
         \"api\":\"tx\",\"grants\":[\"refresh_token\"],
         \"refreshToken\":\"rt-seed-tx\"}]}}" >/dev/null
}

# token ARGS...: POSTs the form to the token endpoint; status as call.
token() { call POST /oauth/token "$@"; }

crm_get() { # access token
    call GET /api/v1/documents -H "Authorization: Bearer $1"
}

tx_get() { # access token
    call GET '/v1/transactions?accountId=a' -H "Authorization: Bearer $1"
}

test_client_credentials() {
    local a
    oauth_config 30
    check "bearer missing" "401 missing" \
        "$(call GET /api/v1/documents -H "X-API-Key: $CRM_KEY") $(
           body '["reason"]')"
    check "WWW-Authenticate" 'Bearer error="invalid_token"' \
        "$(hdr WWW-Authenticate)"
    check "grant by Basic" "200 Bearer 30" \
        "$(token -u docsync-crm:crm-secret -d grant_type=client_credentials) $(
           body '["token_type"]') $(body '["expires_in"]')"
    a=$(body '["access_token"]')
    check "bearer accepted" 200 "$(crm_get "$a")"
    check "grant by form fields" 200 "$(token -d grant_type=client_credentials \
        -d client_id=docsync-crm -d client_secret=crm-secret)"
    check "bad client" "401 invalid_client" "$(token -u docsync-crm:nope \
        -d grant_type=client_credentials) $(body '["error"]')"
    check "grant not allowed" 400 "$(token -u docsync-tx:tx-secret \
        -d grant_type=client_credentials)"
    check "foreign token" "401 unknown" "$(tx_get "$a") $(body '["reason"]')"
    check "unknown token" "401 unknown" "$(crm_get nope) $(body '["reason"]')"
}

test_refresh() {
    local a1 r1 a2 r2 r3
    check "refresh grant" 200 "$(token -u docsync-tx:tx-secret \
        -d grant_type=refresh_token -d refresh_token=rt-seed-tx)"
    a1=$(body '["access_token"]')
    r1=$(body '["refresh_token"]')
    check "refresh token rotated" yes \
        "$([ ${#r1} -ge 32 ] && [ "$r1" != rt-seed-tx ] && echo yes)"
    check "refreshed bearer accepted" 200 "$(tx_get "$a1")"
    token -u docsync-tx:tx-secret -d grant_type=refresh_token \
        -d refresh_token="$r1" >/dev/null
    a2=$(body '["access_token"]')
    r2=$(body '["refresh_token"]')
    check "old access token revoked by refresh" "401 revoked" \
        "$(tx_get "$a1") $(body '["reason"]')"
    check "new access token accepted" 200 "$(tx_get "$a2")"
    check "reused refresh token" "400 invalid_grant" \
        "$(token -u docsync-tx:tx-secret -d grant_type=refresh_token \
           -d refresh_token="$r1") $(body '["error"]')"
    check "reused seed" 400 "$(token -u docsync-tx:tx-secret \
        -d grant_type=refresh_token -d refresh_token=rt-seed-tx)"
    check "unknown refresh token" 400 "$(token -u docsync-tx:tx-secret \
        -d grant_type=refresh_token -d refresh_token=never-issued)"
    check "reuses counted, unknown not" 2 \
        "$(refusals 'd["reusedRefreshTokens"]')"
    curl -s -X POST "$BASE/admin/oauth/revoke" -d '{"clientId":"docsync-tx"}' \
        >/dev/null
    check "revoke kills access token" "401 revoked" \
        "$(tx_get "$a2") $(body '["reason"]')"
    check "revoke kills refresh token" 400 "$(token -u docsync-tx:tx-secret \
        -d grant_type=refresh_token -d refresh_token="$r2")"
    check "revoked refresh not counted as reuse" 2 \
        "$(refusals 'd["reusedRefreshTokens"]')"
    r3=$(curl -s -X POST "$BASE/admin/oauth/refresh-token" \
        -d '{"clientId":"docsync-tx"}' | json_field '["refresh_token"]')
    check "re-consent refresh token works" 200 "$(token \
        -d grant_type=refresh_token -d refresh_token="$r3" \
        -d client_id=docsync-tx -d client_secret=tx-secret)"
    check "token after re-consent accepted" 200 \
        "$(tx_get "$(body '["access_token"]')")"
}

test_expiry() {
    local a
    oauth_config 1
    token -u docsync-crm:crm-secret -d grant_type=client_credentials >/dev/null
    a=$(body '["access_token"]')
    check "short-lived token accepted" 200 "$(crm_get "$a")"
    sleep 1.3
    check "expired token" "401 expired" "$(crm_get "$a") $(body '["reason"]')"
    set_limit crm 1 50000 x-ratelimit
    fresh_window 50000
    check "token endpoint not limited" "200 200 -" "$(token -u \
        docsync-crm:crm-secret -d grant_type=client_credentials) $(token -u \
        docsync-crm:crm-secret -d grant_type=client_credentials) $(
        hdr X-RateLimit-Limit)"
    # crm: missing, unknown, expired; tx: foreign, refreshed, revoked
    check "bad tokens counted per API" "crm=3 tx=3 all=6" "$(refusals \
        '"crm=%d tx=%d all=%d" % (d["byApi"]["crm"]["badTokens"],
                                  d["byApi"]["tx"]["badTokens"],
                                  d["badTokens"])')"
}

test_stop() {
    local rc
    kill -TERM "$SB_PID"
    wait "$SB_PID"
    rc=$?
    SB_PID=
    check "SIGTERM exits 0 with the webhook sender running" 0 "$rc"
    check "no secret or token in the log" 0 \
        "$(grep -c -e crm-secret -e tx-secret -e rt-seed-tx -e "$SUB_KEY" \
           -e "$CRM_KEY" -e "$DEST_KEY" "$WORK/sandbox.log")"
    check "only JSON lines in the log" 0 \
        "$(grep -vc '^{' "$WORK/sandbox.log")"
    show_stderr
}

write_config
export SANDBOX_CONFIG=$WORK/config.json
start_receiver
start_sandbox
if [ -z "${PORT:-}" ]; then
    echo "FAIL sandbox did not start"
    cat "$WORK/sandbox.log"
    exit 1
fi
test_config
test_listing
test_accounts
test_vendor
test_tx_status
test_webhooks
test_x_ratelimit
test_ratelimit
test_retry_seconds
test_retry_date
test_refusals
test_parallel_limit
test_client_credentials
test_refresh
test_expiry
test_stop
summary
