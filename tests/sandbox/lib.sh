# lib.sh - what the sandbox's test scripts share: a private sandbox on a
# free port, requests, checks that print both values, and the closing
# "N passed, N failed" line. Sourced by every suite; those whose sandbox is
# to send webhooks set HOOK_PORT first.
#
#   . "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXE=$ROOT/bin/docsync-sandbox
SAMPLES=$ROOT/samples
WORK=$(mktemp -d)
CRM_KEY=crm-test-key
DEST_KEY=dest-test-key
SECRET=webhook-test-secret
# What JSON uploads declare; a POST without it would be a form (415).
JSON_TYPE="Content-Type: application/json"
passes=0
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
        passes=$((passes + 1))
    else
        echo "FAIL $1: expected [$2], got [$3]"
        fails=$((fails + 1))
    fi
}

# summary: the closing line; returns 1 when a check failed.
summary() {
    echo "$passes passed, $fails failed"
    [ "$fails" -eq 0 ]
}

# show_stderr: the sandbox's lines that are not JSON (libmicrohttpd's or
# valgrind's stderr), to SANDBOX_STDERR when set, else to stdout. Written
# through the open stdout: reopening /dev/stdout would truncate a file the
# output is redirected to.
show_stderr() {
    if [ -n "${SANDBOX_STDERR:-}" ]; then
        grep -v '^{' "$WORK/sandbox.log" >"$SANDBOX_STDERR"
    else
        grep -v '^{' "$WORK/sandbox.log"
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

# call METHOD PATH [curl args...]: the status; headers in $WORK/h (CR
# stripped), body in $WORK/b.
call() {
    local m=$1 p=$2
    shift 2
    curl -s -X "$m" -D "$WORK/h.raw" -o "$WORK/b" -w '%{http_code}' "$@" \
        "$BASE$p"
    tr -d '\r' <"$WORK/h.raw" >"$WORK/h"
}

# hdr NAME: the value of header NAME of the last call, "-" without one.
hdr() {
    local v
    v=$(grep -i "^$1:" "$WORK/h" | head -1 | cut -d' ' -f2-)
    echo "${v:--}"
}

# body EXPR: EXPR (["id"]) of the last call's JSON body.
body() { json_field "$1" <"$WORK/b"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0));
print(s.getsockname()[1])'
}

# start_sandbox: starts the sandbox on a free port with transactions
# txn_1001 and txn_1002, sending webhooks to HOOK_PORT when it is set;
# sets SB_PID, PORT and BASE.
start_sandbox() {
    local hook=()
    [ -n "${HOOK_PORT:-}" ] &&
        hook=(--webhook-url "http://127.0.0.1:$HOOK_PORT/webhooks/crm")
    printf '{"transactions":["txn_1001",{"id":"txn_1002"}]}' >"$WORK/tx.json"
    SANDBOX_CRM_API_KEY=$CRM_KEY SANDBOX_DEST_API_KEY=$DEST_KEY \
        ${SANDBOX_WRAP:-} "$EXE" --port 0 --data-dir "$WORK/data" \
        --transactions "$WORK/tx.json" --webhook-secret "$SECRET" \
        "${hook[@]}" >"$WORK/sandbox.log" 2>&1 &
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

# idem_post KEY FILE: uploads FILE to txn_1001 with Idempotency-Key KEY;
# prints "<status> <Idempotent-Replayed value, - without one> <body>".
idem_post() {
    local out code replayed
    out=$(mktemp -p "$WORK" idem.XXXXXX)
    code=$(curl -s -D "$out.h" -o "$out.b" -w '%{http_code}' \
        -H "X-API-Key: $DEST_KEY" -H "Idempotency-Key: $1" -H "$JSON_TYPE" \
        --data-binary @"$2" "$BASE/v1/transactions/txn_1001/documents")
    replayed=$(tr -d '\r' <"$out.h" |
               sed -n 's/^[Ii]dempotent-[Rr]eplayed: *//p')
    echo "$code ${replayed:--} $(cat "$out.b")"
    rm -f "$out" "$out.h" "$out.b"
}

# tx_count FIELD SOURCE: FIELD of the admin listing (uploadsBySource,
# replaysBySource, lostBySource, corruptedBySource) for SOURCE, 0 when
# absent.
tx_count() {
    curl -s "$BASE/admin/tx/documents" |
        json_field ".get('$1', {}).get('$2', 0)"
}

