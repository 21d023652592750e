# shellcheck shell=bash
# t_50_http_faults.sh - C20: a CRM error page is retried, never stored or
# uploaded as the document; a CRM that hangs is cut off by HTTP_TIMEOUT_MS
# and retried, and the retry is counted on the fetcher's /metrics. C11:
# the upload's base64 has no line breaks.

FETCHER_LOG=$E2E_ROOT/.run/logs/fetcher.log
RETRIES='docsync_records_total{stage="fetcher",result="retry"}'
SANDBOX_LOG=$E2E_ROOT/.run/logs/sandbox.log

# fetcher_lines DOC_ID OFFSET: the fetcher's log lines about DOC_ID written
# after OFFSET, as JSON lines.
fetcher_lines() {
    log_since "$FETCHER_LOG" "$2" | grep -F "\"documentId\":\"$1\"" || true
}

# check_copy_is_file NAME DOC_ID FILE: uploaded once, and the stored copy
# (its md5 as reported and the bytes on disk) is FILE.
check_copy_is_file() {
    local copy want stored
    want=$(md5sum < "$3" | cut -d' ' -f1)
    assert_eq "$1: uploaded exactly once" 1 "$(uploads_of "$2")"
    copy=$(tx_doc_of "$2") || copy='{}'
    assert_eq "$1: the copy's md5Checksum is the real file's" "$want" \
        "$(echo "$copy" | json_get md5Checksum)"
    assert_eq "$1: the copy's size is the real file's" "$(stat -c %s "$3")" \
        "$(echo "$copy" | json_get size)"
    stored=$(echo "$copy" | json_get storedPath)
    assert_eq "$1: the bytes the destination stored are the real file" "$want" \
        "$( [ -f "$stored" ] && md5sum < "$stored" | cut -d' ' -f1)"
}

# --- C20 (a): the content GET answers 500 with a 22-byte error body once.
sample=$E2E_ROOT/samples/libreoffice-form.pdf
error_page='{"error":"crm_broken"}'
assert_eq "the injected error page is 22 bytes" 22 "$(printf '%s' "$error_page" | wc -c)"
id=$(uniq_id t50_err500)
log_at=$(log_size "$FETCHER_LOG")
retries_before=$(stage_metric fetcher "$RETRIES") || retries_before=
sb_at=$(log_size "$SANDBOX_LOG")
sandbox_fault "$(python3 -c 'import json, sys
print(json.dumps({"route": "crm_content", "count": 1, "status": 500, "body": sys.argv[1]}))' \
    "$error_page")" || t_fail "the sandbox arms the 500 fault" "POST /admin/faults failed"
sandbox_add_doc acc_1001 "$sample" "{\"documentId\":\"$id\"}" >/dev/null
wait_until 30 doc_state_is "$id" verified
assert_eq "C20a: the sandbox served the 500 to this document's content GET" 1 \
    "$(log_since "$SANDBOX_LOG" "$sb_at" | grep -F "/api/v1/documents/$id/content" \
        | grep -c '"status":500,.*"fault":true' || true)"
assert_eq "C20a: the fetcher retried after the 500 (RETRY http_500)" 1 \
    "$(fetcher_lines "$id" "$log_at" | grep '"status":"RETRY"' \
        | grep -c '"error":"http_500"' || true)"
assert_eq "C20a: after a 500 the document still ends verified" verified "$(doc_state "$id")"
assert_eq "C20a: the fetcher's /metrics counts the one retry" \
    "$(( ${retries_before:-0} + 1 ))" \
    "$(stage_metric fetcher "$RETRIES" || echo "(no such series)")"
check_copy_is_file "C20a" "$id" "$sample"
page_sha=$(printf '%s' "$error_page" | sha256sum | cut -d' ' -f1)
assert_eq "C20a: the error page never became a blob" "" \
    "$(find "$BLOB_DIR" -name "$page_sha" 2>/dev/null)"
assert_eq "C20a: no blob is left in the store's tmp dir" "" \
    "$(find "$BLOB_DIR/tmp" -type f 2>/dev/null)"

# --- C20 (b): the content GET hangs longer than HTTP_TIMEOUT_MS.
sample=$E2E_ROOT/samples/pdflatex-forms.pdf
hang_ms=$(( HTTP_TIMEOUT_MS + 3000 ))
id=$(uniq_id t50_hang)
log_at=$(log_size "$FETCHER_LOG")
sandbox_fault "{\"route\":\"crm_content\",\"count\":1,\"delayMs\":$hang_ms}" \
    || t_fail "the sandbox arms the hang" "POST /admin/faults failed"
sandbox_add_doc acc_1002 "$sample" "{\"documentId\":\"$id\"}" >/dev/null
wait_until $(( HTTP_TIMEOUT_MS / 1000 + 30 )) doc_state_is "$id" verified
retry=$(fetcher_lines "$id" "$log_at" | grep '"status":"RETRY"' | head -n 1)
assert_eq "C20b: a hang of ${hang_ms} ms makes the fetcher log RETRY http_timeout" \
    http_timeout "$(echo "${retry:-{\}}" | json_get error)"
took=$(echo "${retry:-{\}}" | json_get duration_ms)
if [[ $took =~ ^[0-9]+$ ]] && [ "$took" -ge $(( HTTP_TIMEOUT_MS - 500 )) ] &&
   [ "$took" -le $(( HTTP_TIMEOUT_MS + 2000 )) ]; then
    t_pass "C20b: the hung call ends within HTTP_TIMEOUT_MS ($HTTP_TIMEOUT_MS ms)"
else
    t_fail "C20b: the hung call ends within HTTP_TIMEOUT_MS ($HTTP_TIMEOUT_MS ms)" \
        "the attempt took ${took:-?} ms"
fi
assert_eq "C20b: after the timeout the document still ends verified" verified \
    "$(doc_state "$id")"
check_copy_is_file "C20b" "$id" "$sample"

# --- C11: the destination refuses base64 with whitespace ...
dest_key=$(tr -d '\r\n' < "$DEST_API_KEY_FILE")
upload_status() {
    curl -s -o "$1" -w '%{http_code}' --max-time 10 -H "X-API-Key: $dest_key" \
        -H 'Content-Type: application/json' --data-binary "$2" \
        "$SANDBOX_URL/v1/transactions/$(mapped_transaction acc_1003)/documents"
}
wrapped=$(head -c 100 "$E2E_ROOT/samples/habibi.pdf" | base64 -w 76 | paste -sd'\n' \
    | python3 -c 'import sys; print(sys.stdin.read().strip().replace("\n", "\\n"))')
c11_id=$(uniq_id t50_wrapped)
resp=$(mktemp)
upload=$(printf '{"fileName":"a.pdf","mimeType":"application/pdf",%s' \
    "\"documentDate\":\"2026-12-03\",\"sourceDocumentId\":\"$c11_id\",\"content\":\"$wrapped\"}")
assert_eq "C11: the sandbox refuses base64 wrapped at 76 columns (400)" 400 \
    "$(upload_status "$resp" "$upload")"
assert_eq "C11: its reason is whitespace_in_content" whitespace_in_content \
    "$(json_get reason < "$resp")"
rm -f "$resp"

# ... so a real sample of 197,920 bytes (base64 far over 76 columns) that
# the uploader attached at the first try proves the encoding is unbroken.
id=$(uniq_id t50_b64)
up_at=$(log_size "$E2E_ROOT/.run/logs/uploader.log")
sandbox_add_doc acc_1003 samples/smile.tiff "{\"documentId\":\"$id\"}" >/dev/null
wait_until 30 doc_state_is "$id" verified
assert_eq "C11: the uploader's first upload of smile.tiff succeeds" 1 \
    "$(log_since "$E2E_ROOT/.run/logs/uploader.log" "$up_at" | grep -F "\"documentId\":\"$id\"" \
        | grep '"status":"SUCCESS"' | grep -c '"attempt":1' || true)"
check_copy_is_file "C11: smile.tiff" "$id" "$E2E_ROOT/samples/smile.tiff"
