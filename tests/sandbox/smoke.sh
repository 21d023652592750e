#!/usr/bin/env bash
# smoke.sh - starts bin/docsync-sandbox on a free port and checks every
# route against the samples: CRM metadata and content, uploads and their
# MD5, the search of a transaction, bad bodies, keys, faults, hangs, reset,
# Idempotency-Key, signed webhooks and a clean stop. Needs curl, base64,
# md5sum, python3 (the webhook listener, a half-sent request). The chaos
# faults have their own script, chaos.sh.
#
#   tests/sandbox/smoke.sh            from the repository root
#   SANDBOX_WRAP="valgrind -q" tests/sandbox/smoke.sh
set -u

# shellcheck source=tests/sandbox/lib.sh
. "$(dirname "$0")/lib.sh"

# A webhook listener that answers 202 to a valid signature, 401 otherwise,
# and appends each delivery to hooks.jsonl.
start_hook() {
    cat >"$WORK/hook.py" <<'PY'
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
secret, out = sys.argv[2].encode(), sys.argv[3]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sig = self.headers.get("X-Signature", "")
        ok = hmac.compare_digest(sig, hmac.new(secret, body,
                                               hashlib.sha256).hexdigest())
        with open(out, "a") as f:
            f.write(json.dumps({"body": body.decode(), "ok": ok}) + "\n")
        self.send_response(202 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
    HOOK_PORT=$(free_port)
    python3 "$WORK/hook.py" "$HOOK_PORT" "$SECRET" "$WORK/hooks.jsonl" &
    HOOK_PID=$!
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$HOOK_PORT/" && break
        sleep 0.1
    done
}

test_crm() {
    local r id pdf=$SAMPLES/habibi.pdf
    check "healthz" '200 {"status":"ok"}' "$(req GET /healthz)"
    r=$(req POST /admin/crm/documents \
        -d "{\"accountId\":\"acc_1\",\"path\":\"$pdf\",\"deliveries\":2}")
    check "add document" 201 "${r%% *}"
    id=$(echo "${r#* }" | json_field '["documentId"]')
    check "webhook statuses" "[202, 202]" \
        "$(echo "${r#* }" | json_field '["webhookStatuses"]')"
    check "webhooks signed" 2 "$(grep -c '"ok": true' "$WORK/hooks.jsonl")"
    check "webhook bodies identical" 1 \
        "$(sort -u "$WORK/hooks.jsonl" | wc -l)"
    r=$(req GET "/api/v1/documents/$id" -H "X-API-Key: $CRM_KEY")
    check "meta size" 14957 "$(echo "${r#* }" | json_field '["size"]')"
    check "meta mime" application/pdf \
        "$(echo "${r#* }" | json_field '["mimeType"]')"
    curl -s -o "$WORK/got" -H "X-API-Key: $CRM_KEY" \
        "$BASE/api/v1/documents/$id/content"
    check "content bytes" same "$(cmp -s "$WORK/got" "$pdf" && echo same)"
    check "meta without key" '401 {"error":"unauthorized"}' \
        "$(req GET "/api/v1/documents/$id")"
    check "meta with dest key" 401 \
        "$(req GET "/api/v1/documents/$id" -H "X-API-Key: $DEST_KEY" |
           cut -d' ' -f1)"
    check "unknown document" '404 {"error":"not_found"}' \
        "$(req GET /api/v1/documents/doc_0 -H "X-API-Key: $CRM_KEY")"
    check "bad signature" "[401]" "$(req POST /admin/crm/documents \
        -d "{\"accountId\":\"a\",\"path\":\"$pdf\",\"signature\":\"00\"}" |
        cut -d' ' -f2- | json_field '["webhookStatuses"]')"
    check "delete" 204 "$(req DELETE "/admin/crm/documents/$id" |
                          cut -d' ' -f1)"
    check "deleted" 404 "$(req GET "/api/v1/documents/$id" \
                           -H "X-API-Key: $CRM_KEY" | cut -d' ' -f1)"
    check "wrong method" 405 "$(req PUT /healthz | cut -d' ' -f1)"
    check "unknown route" 404 "$(req GET /nowhere | cut -d' ' -f1)"
    r=$(req POST /admin/crm/webhooks/thin -d '{"documentIds":["d1","d2"]}')
    check "thin webhook status" 202 \
        "$(echo "${r#* }" | json_field '["webhookStatus"]')"
    check "thin webhook signed" True \
        "$(tail -n 1 "$WORK/hooks.jsonl" | json_field '["ok"]')"
    check "thin webhook body" "DOCUMENTS_CREATED ['d1', 'd2']" \
        "$(tail -n 1 "$WORK/hooks.jsonl" | python3 -c '
import json, sys
b = json.loads(json.load(sys.stdin)["body"])
print(b["eventType"], b["documentIds"])')"
}

test_upload() {
    local r id pdf=$SAMPLES/multicolumn.pdf
    upload_body m.pdf doc_7 "$pdf" >"$WORK/up.json"
    r=$(req POST /v1/transactions/txn_1001/documents -H "X-API-Key: $DEST_KEY" \
        -H "$JSON_TYPE" --data-binary @"$WORK/up.json")
    check "upload" 201 "${r%% *}"
    id=$(echo "${r#* }" | json_field '["id"]')
    r=$(req GET "/v1/documents/$id" -H "X-API-Key: $DEST_KEY")
    check "md5" "$(md5sum <"$pdf" | cut -d' ' -f1)" \
        "$(echo "${r#* }" | json_field '["md5Checksum"]')"
    check "second transaction (object form)" 201 \
        "$(req POST /v1/transactions/txn_1002/documents -H "$JSON_TYPE" \
           -H "X-API-Key: $DEST_KEY" --data-binary @"$WORK/up.json" |
           cut -d' ' -f1)"
    check "uploads by source" 2 "$(curl -s "$BASE/admin/tx/documents" |
        json_field '["uploadsBySource"]["doc_7"]')"
    check "unknown transaction" 404 \
        "$(req POST /v1/transactions/txn_9/documents -H "$JSON_TYPE" \
           -H "X-API-Key: $DEST_KEY" --data-binary @"$WORK/up.json" |
           cut -d' ' -f1)"
    check "upload without key" 401 \
        "$(req POST /v1/transactions/txn_1001/documents -H "$JSON_TYPE" \
           --data-binary @"$WORK/up.json" | cut -d' ' -f1)"
    check "missing field" 'missing_field' \
        "$(req POST /v1/transactions/txn_1001/documents -H "$JSON_TYPE" \
           -H "X-API-Key: $DEST_KEY" -d '{"fileName":"a"}' |
           cut -d' ' -f2- | json_field '["reason"]')"
    local head='{"fileName":"a","mimeType":"b","documentDate":"d",
        "sourceDocumentId":"s","content":'
    check "whitespace in base64" whitespace_in_content \
        "$(req POST /v1/transactions/txn_1001/documents -H "$JSON_TYPE" \
           -H "X-API-Key: $DEST_KEY" -d "$head\"QUJD\\nREVG\"}" |
           cut -d' ' -f2- | json_field '["reason"]')"
    check "bad base64" bad_base64 \
        "$(req POST /v1/transactions/txn_1001/documents -H "$JSON_TYPE" \
           -H "X-API-Key: $DEST_KEY" -d "$head\"QQ=A\"}" |
           cut -d' ' -f2- | json_field '["reason"]')"
}

# search TRANSACTION [QUERY]: GET of the transaction's documents with the
# destination key; prints "<status> <body>".
search() {
    req GET "/v1/transactions/$1/documents${2:+?$2}" -H "X-API-Key: $DEST_KEY"
}

test_search() {
    local r a b c ids
    upload_body s.pdf doc_s1 "$SAMPLES/habibi.pdf" >"$WORK/s1.json"
    upload_body s.pdf doc_s2 "$SAMPLES/habibi.pdf" >"$WORK/s2.json"
    for t in txn_1001/doc_s1 txn_1001/doc_s2 txn_1001/doc_s1 txn_1002/doc_s1
    do
        r=$(req POST "/v1/transactions/${t%/*}/documents" -H "$JSON_TYPE" \
            -H "X-API-Key: $DEST_KEY" --data-binary @"$WORK/${t#*/doc_}.json")
        [ "${r%% *}" = 201 ] || echo "upload for the search: $r"
    done
    r=$(search txn_1001 sourceDocumentId=doc_s1)
    check "search by source" 200 "${r%% *}"
    ids=$(echo "${r#* }" | json_field '["documents"]' | python3 -c '
import ast, sys; print(" ".join(d["id"] for d in ast.literal_eval(
    sys.stdin.read())))')
    check "search finds both copies of the source" 2 "$(echo "$ids" | wc -w)"
    a=${ids%% *}
    b=$(req GET "/v1/documents/$a" -H "X-API-Key: $DEST_KEY" | cut -d' ' -f2-)
    c=$(echo "${r#* }" | python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)["documents"][0], separators=(",", ":")))')
    check "search objects are those of GET /v1/documents/{id}" "$b" "$c"
    check "search without a filter: the transaction's documents only" \
        "txn_1002 doc_s1:1" "$(search txn_1002 | cut -d' ' -f2- |
        python3 -c 'import json, sys
d = json.load(sys.stdin)["documents"]
print(" ".join(sorted({x["transactionId"] for x in d})),
      "doc_s1:%d" % sum(x["sourceDocumentId"] == "doc_s1" for x in d))')"
    check "search for an unknown source" '200 {"documents":[]}' \
        "$(search txn_1001 sourceDocumentId=doc_none)"
    check "search of an unknown transaction" \
        '404 {"error":"not_found","reason":"unknown_transaction"}' \
        "$(search txn_9 sourceDocumentId=doc_s1)"
    check "search with an empty filter" "400 bad_field sourceDocumentId" \
        "$(search txn_1001 sourceDocumentId= | python3 -c 'import json, sys
code, body = sys.stdin.read().split(" ", 1); b = json.loads(body)
print(code, b["reason"], b["field"])')"
    check "search without key" 401 \
        "$(req GET /v1/transactions/txn_1001/documents | cut -d' ' -f1)"
    req POST /admin/faults -d '{"route":"tx_search","status":503}' >/dev/null
    check "search fault route" 503 "$(search txn_1001 | cut -d' ' -f1)"
    check "search after the fault" 200 "$(search txn_1001 | cut -d' ' -f1)"
}

test_big_upload() {
    local r id
    head -c 30000000 /dev/urandom >"$WORK/big"
    upload_body big doc_big "$WORK/big" >"$WORK/big.json"
    r=$(req POST /v1/transactions/txn_1001/documents -H "X-API-Key: $DEST_KEY" \
        -H "$JSON_TYPE" --data-binary @"$WORK/big.json")
    check "30 MB upload" 201 "${r%% *}"
    id=$(echo "${r#* }" | json_field '["id"]')
    check "30 MB md5" "$(md5sum <"$WORK/big" | cut -d' ' -f1)" \
        "$(req GET "/v1/documents/$id" -H "X-API-Key: $DEST_KEY" |
           cut -d' ' -f2- | json_field '["md5Checksum"]')"
    check "30 MB stored" same "$(cmp -s "$WORK/big" "$WORK/data/$id" &&
                                 echo same)"
}

# A 401 queued with afterBody answers only once the whole 1 MiB upload
# is in, with the OAuth2 challenge, and stores nothing.
test_fault_after_body() {
    local got
    head -c 1048576 /dev/urandom >"$WORK/mib"
    req POST /admin/faults \
        -d '{"route":"tx_upload","status":401,"afterBody":true}' >/dev/null
    got=$(curl -s -D "$WORK/ab.h" -o "$WORK/ab.b" \
        -w '%{http_code} %{size_upload}' -H "X-API-Key: $DEST_KEY" \
        --data-binary @"$WORK/mib" \
        "$BASE/v1/transactions/txn_1001/documents")
    check "afterBody 401 after all bytes" "401 1048576" "$got"
    check "afterBody challenge" 'Bearer error="invalid_token"' \
        "$(tr -d '\r' <"$WORK/ab.h" |
           sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *//p')"
    check "afterBody body" invalid_token \
        "$(json_field '["error"]' <"$WORK/ab.b")"
    check "afterBody logged the body" 1048576 \
        "$(grep '"status":401' "$WORK/sandbox.log" | tail -1 |
           json_field '["bodyBytes"]')"
    check "afterBody left no temporary file" 0 \
        "$(find "$WORK/data" -name '*upload*' | wc -l)"
}

test_faults() {
    local t0 t1 empty
    req POST /admin/faults -d '{"route":"tx_get","count":2,"status":503}' \
        >/dev/null
    check "fault 1" 503 "$(req GET /v1/documents/x -H "X-API-Key: $DEST_KEY" |
                           cut -d' ' -f1)"
    check "fault 2" 503 "$(req GET /v1/documents/x -H "X-API-Key: $DEST_KEY" |
                           cut -d' ' -f1)"
    check "fault used up" 404 "$(req GET /v1/documents/x \
                                 -H "X-API-Key: $DEST_KEY" | cut -d' ' -f1)"
    req POST /admin/faults -d '{"route":"crm_meta","delayMs":1000}' >/dev/null
    t0=$(date +%s%N)
    req GET /api/v1/documents/x -H "X-API-Key: $CRM_KEY" >/dev/null
    t1=$(date +%s%N)
    check "hang of 1 s" yes "$([ $(( (t1 - t0) / 1000000 )) -ge 1000 ] &&
                                echo yes)"
    check "bad fault route" 400 "$(req POST /admin/faults \
                                   -d '{"route":"x"}' | cut -d' ' -f1)"
    test_fault_after_body
    req POST /admin/faults -d '{"route":"tx_get","count":5}' >/dev/null
    check "reset" 200 "$(req POST /admin/reset | cut -d' ' -f1)"
    empty='{"documents":[],"uploadsBySource":{},'
    empty+='"idempotentReplays":0,"replaysBySource":{},'
    empty+='"lostBySource":{},"corruptedBySource":{}}'
    check "reset clears" "$empty" "$(curl -s "$BASE/admin/tx/documents")"
    check "reset clears faults" 404 "$(req GET /v1/documents/x \
                                       -H "X-API-Key: $DEST_KEY" |
                                       cut -d' ' -f1)"
}

# A key claimed by a request whose body is still coming, then torn down:
# sends the headers and part of the body, holds the connection 1.5 s.
half_sent_upload() {
    python3 - "$PORT" "$DEST_KEY" "$1" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /v1/transactions/txn_1001/documents HTTP/1.1\r\n"
           "Host: x\r\nX-API-Key: %s\r\nIdempotency-Key: %s\r\n"
           "Content-Length: 100000\r\n\r\n{\"fileName\""
           % (sys.argv[2], sys.argv[3])).encode())
time.sleep(1.5)
s.close()
PY
}

test_idempotency() {
    local r r2 id t0 rc pid
    upload_body i.pdf doc_i1 "$SAMPLES/habibi.pdf" >"$WORK/i1.json"
    upload_body i.pdf doc_i1 "$SAMPLES/multicolumn.pdf" >"$WORK/i1b.json"
    upload_body i.pdf doc_i2 "$SAMPLES/habibi.pdf" >"$WORK/i2.json"
    upload_body i.pdf doc_i3 "$SAMPLES/habibi.pdf" >"$WORK/i3.json"
    upload_body i.pdf doc_i4 "$SAMPLES/habibi.pdf" >"$WORK/i4.json"

    r=$(idem_post key-1 "$WORK/i1.json")
    check "idempotent upload, first" "201 -" "$(echo "$r" | cut -d' ' -f1,2)"
    id=$(echo "$r" | cut -d' ' -f3- | json_field '["id"]')
    r2=$(idem_post '"key-1"' "$WORK/i1.json")
    check "same key, same body: replayed 201, same id" \
        "201 true {\"id\":\"$id\",\"transactionId\":\"txn_1001\"}" "$r2"
    check "replay stores nothing" 1 "$(tx_count uploadsBySource doc_i1)"
    check "replay counted" 1 "$(tx_count replaysBySource doc_i1)"
    check "replay total" 1 "$(curl -s "$BASE/admin/tx/documents" |
                              json_field '["idempotentReplays"]')"
    check "replay leaves no temporary file" 0 \
        "$(find "$WORK/data" -name '.upload-*' | wc -l)"
    check "same key, other body" \
        '422 - {"error":"unprocessable","reason":"idempotency_key_reused"}' \
        "$(idem_post key-1 "$WORK/i1b.json")"
    check "malformed key" \
        '400 - {"error":"bad_request","reason":"bad_idempotency_key"}' \
        "$(idem_post '"a\b"' "$WORK/i1.json")"

    req POST /admin/faults -d '{"route":"tx_upload","delayMs":2000}' \
        >/dev/null
    idem_post key-2 "$WORK/i2.json" >"$WORK/first.out" &
    pid=$!
    sleep 0.5
    t0=$(date +%s%N)
    check "same key while the first is delayed" \
        '409 - {"error":"conflict","reason":"idempotency_key_in_progress"}' \
        "$(idem_post key-2 "$WORK/i2.json")"
    check "409 at once" yes \
        "$([ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000 ] && echo yes)"
    wait "$pid"
    check "delayed first completes" 201 "$(cut -d' ' -f1 "$WORK/first.out")"
    check "one copy of the delayed upload" 1 \
        "$(tx_count uploadsBySource doc_i2)"

    # A client killed during the delay: the sandbox still stores it.
    req POST /admin/faults -d '{"route":"tx_upload","delayMs":3000}' \
        >/dev/null
    curl -s -o /dev/null --max-time 1 -H "X-API-Key: $DEST_KEY" \
        -H "Idempotency-Key: key-3" -H "$JSON_TYPE" --data-binary @"$WORK/i3.json" \
        "$BASE/v1/transactions/txn_1001/documents"
    rc=$?
    check "client gave up during the delay" 28 "$rc"
    check "retry while the killed client's upload runs" 409 \
        "$(idem_post key-3 "$WORK/i3.json" | cut -d' ' -f1)"
    for _ in $(seq 50); do
        [ "$(tx_count uploadsBySource doc_i3)" = 1 ] && break
        sleep 0.1
    done
    check "killed client's upload stored after the delay" 1 \
        "$(tx_count uploadsBySource doc_i3)"
    id=$(curl -s "$BASE/admin/tx/documents" | python3 -c 'import json,sys
print([d["id"] for d in json.load(sys.stdin)["documents"]
       if d["sourceDocumentId"] == "doc_i3"][0])')
    check "retry after the delay: replayed 201 with the stored id" \
        "201 true {\"id\":\"$id\",\"transactionId\":\"txn_1001\"}" \
        "$(idem_post key-3 "$WORK/i3.json")"
    check "still one copy" 1 "$(tx_count uploadsBySource doc_i3)"

    half_sent_upload key-4
    pid=$!
    sleep 0.5
    check "key of a request still sending its body" 409 \
        "$(idem_post key-4 "$WORK/i4.json" | cut -d' ' -f1)"
    wait "$pid"
    sleep 0.2
    check "key of a torn-down request is forgotten" "201 -" \
        "$(idem_post key-4 "$WORK/i4.json" | cut -d' ' -f1,2)"

    req POST /admin/faults -d '{"route":"tx_upload","status":503}' >/dev/null
    check "faulted 503" 503 "$(idem_post key-5 "$WORK/i1b.json" |
                               cut -d' ' -f1)"
    check "key of a failed request is forgotten" "201 -" \
        "$(idem_post key-5 "$WORK/i1b.json" | cut -d' ' -f1,2)"

    req POST /admin/reset >/dev/null
    check "reset forgets keys" "201 -" \
        "$(idem_post key-1 "$WORK/i1b.json" | cut -d' ' -f1,2)"
    req POST /admin/reset >/dev/null
}

test_stop() {
    local rc
    req POST /admin/faults -d '{"route":"tx_get","delayMs":60000}' >/dev/null
    curl -s -o /dev/null -H "X-API-Key: $DEST_KEY" "$BASE/v1/documents/x" &
    sleep 0.3
    kill -TERM "$SB_PID"
    wait "$SB_PID"
    rc=$?
    SB_PID=
    check "SIGTERM during a hang exits 0" 0 "$rc"
    check "no key in the log" 0 \
        "$(grep -c -e "$CRM_KEY" -e "$DEST_KEY" -e "$SECRET" \
           "$WORK/sandbox.log")"
    # Anything else is stderr: libmicrohttpd's errors or valgrind's.
    check "only JSON lines in the log" 0 \
        "$(grep -vc '^{' "$WORK/sandbox.log")"
    show_stderr
}

start_hook
start_sandbox
test_crm
test_upload
test_search
test_big_upload
test_faults
test_idempotency
test_stop
summary
