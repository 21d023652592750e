#!/usr/bin/env bash
# smoke.sh - starts bin/docsync-sandbox on a free port and checks every
# route against the samples: CRM metadata and content, uploads and their
# MD5, bad bodies, keys, faults, hangs, reset, signed webhooks and a clean
# stop. Needs curl, base64, md5sum, python3 (the webhook listener).
#
#   tests/sandbox/smoke.sh            from the repository root
#   SANDBOX_WRAP="valgrind -q" tests/sandbox/smoke.sh
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXE=$ROOT/bin/docsync-sandbox
SAMPLES=$ROOT/samples
WORK=$(mktemp -d)
CRM_KEY=crm-test-key
DEST_KEY=dest-test-key
SECRET=webhook-test-secret
fails=0
SB_PID=
HOOK_PID=

cleanup() {
    [ -n "$SB_PID" ] && kill "$SB_PID" 2>/dev/null
    [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# check NAME EXPECTED ACTUAL: prints both values when they differ.
check() {
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1: expected [$2], got [$3]"
        fails=$((fails + 1))
    fi
}

# req METHOD PATH [curl args...]: prints "<status> <body>".
req() {
    local m=$1 p=$2
    shift 2
    curl -s -X "$m" -w ' %{http_code}' "$@" "$BASE$p" | awk '{
        code = $NF; $NF = ""; sub(/ $/, ""); print code " " $0 }'
}

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0));
print(s.getsockname()[1])'
}

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

start_sandbox() {
    printf '{"transactions":["txn_1001",{"id":"txn_1002"}]}' >"$WORK/tx.json"
    SANDBOX_CRM_API_KEY=$CRM_KEY SANDBOX_DEST_API_KEY=$DEST_KEY \
        ${SANDBOX_WRAP:-} "$EXE" --port 0 --data-dir "$WORK/data" \
        --transactions "$WORK/tx.json" --webhook-secret "$SECRET" \
        --webhook-url "http://127.0.0.1:$HOOK_PORT/webhooks/crm" \
        >"$WORK/sandbox.log" 2>&1 &
    SB_PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o '"port":[0-9]*' "$WORK/sandbox.log" | cut -d: -f2)
        [ -n "$PORT" ] && break
        sleep 0.1
    done
    BASE=http://127.0.0.1:$PORT
    for _ in $(seq 50); do
        curl -s -o /dev/null "$BASE/healthz" && break
        sleep 0.1
    done
}

upload_body() { # fileName sourceDocumentId file
    printf '{"fileName":"%s","mimeType":"application/pdf","notes":"n",' "$1"
    printf '"documentDate":"2026-12-03","sourceDocumentId":"%s","content":"' "$2"
    base64 -w0 "$3"
    printf '"}'
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
}

test_upload() {
    local r id pdf=$SAMPLES/multicolumn.pdf
    upload_body m.pdf doc_7 "$pdf" >"$WORK/up.json"
    r=$(req POST /v1/transactions/txn_1001/documents -H "X-API-Key: $DEST_KEY" \
        --data-binary @"$WORK/up.json")
    check "upload" 201 "${r%% *}"
    id=$(echo "${r#* }" | json_field '["id"]')
    r=$(req GET "/v1/documents/$id" -H "X-API-Key: $DEST_KEY")
    check "md5" "$(md5sum <"$pdf" | cut -d' ' -f1)" \
        "$(echo "${r#* }" | json_field '["md5Checksum"]')"
    check "second transaction (object form)" 201 \
        "$(req POST /v1/transactions/txn_1002/documents \
           -H "X-API-Key: $DEST_KEY" --data-binary @"$WORK/up.json" |
           cut -d' ' -f1)"
    check "uploads by source" 2 "$(curl -s "$BASE/admin/tx/documents" |
        json_field '["uploadsBySource"]["doc_7"]')"
    check "unknown transaction" 404 \
        "$(req POST /v1/transactions/txn_9/documents \
           -H "X-API-Key: $DEST_KEY" --data-binary @"$WORK/up.json" |
           cut -d' ' -f1)"
    check "upload without key" 401 \
        "$(req POST /v1/transactions/txn_1001/documents \
           --data-binary @"$WORK/up.json" | cut -d' ' -f1)"
    check "missing field" 'missing_field' \
        "$(req POST /v1/transactions/txn_1001/documents \
           -H "X-API-Key: $DEST_KEY" -d '{"fileName":"a"}' |
           cut -d' ' -f2- | json_field '["reason"]')"
    local head='{"fileName":"a","mimeType":"b","documentDate":"d",
        "sourceDocumentId":"s","content":'
    check "whitespace in base64" whitespace_in_content \
        "$(req POST /v1/transactions/txn_1001/documents \
           -H "X-API-Key: $DEST_KEY" -d "$head\"QUJD\\nREVG\"}" |
           cut -d' ' -f2- | json_field '["reason"]')"
    check "bad base64" bad_base64 \
        "$(req POST /v1/transactions/txn_1001/documents \
           -H "X-API-Key: $DEST_KEY" -d "$head\"QQ=A\"}" |
           cut -d' ' -f2- | json_field '["reason"]')"
}

test_big_upload() {
    local r id
    head -c 30000000 /dev/urandom >"$WORK/big"
    upload_body big doc_big "$WORK/big" >"$WORK/big.json"
    r=$(req POST /v1/transactions/txn_1001/documents -H "X-API-Key: $DEST_KEY" \
        --data-binary @"$WORK/big.json")
    check "30 MB upload" 201 "${r%% *}"
    id=$(echo "${r#* }" | json_field '["id"]')
    check "30 MB md5" "$(md5sum <"$WORK/big" | cut -d' ' -f1)" \
        "$(req GET "/v1/documents/$id" -H "X-API-Key: $DEST_KEY" |
           cut -d' ' -f2- | json_field '["md5Checksum"]')"
    check "30 MB stored" same "$(cmp -s "$WORK/big" "$WORK/data/$id" &&
                                 echo same)"
}

test_faults() {
    local t0 t1
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
    req POST /admin/faults -d '{"route":"tx_get","count":5}' >/dev/null
    check "reset" 200 "$(req POST /admin/reset | cut -d' ' -f1)"
    check "reset clears" '{"documents":[],"uploadsBySource":{}}' \
        "$(curl -s "$BASE/admin/tx/documents")"
    check "reset clears faults" 404 "$(req GET /v1/documents/x \
                                       -H "X-API-Key: $DEST_KEY" |
                                       cut -d' ' -f1)"
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
    grep -v '^{' "$WORK/sandbox.log" >"${SANDBOX_STDERR:-/dev/stdout}"
}

start_hook
start_sandbox
test_crm
test_upload
test_big_upload
test_faults
test_stop
[ "$fails" -eq 0 ] && echo "all passed" || echo "$fails failed"
[ "$fails" -eq 0 ]
