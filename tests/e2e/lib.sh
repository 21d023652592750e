# shellcheck shell=bash
# lib.sh - a small harness for the end-to-end tests, in bash.
#
# tests/e2e/run.sh sources this file and then one t_*.sh file, each in its
# own bash process. It reads the running stack's settings from
# .run/stack.env (KAFKA_BROKERS, REDIS_HOST, REDIS_PORT, SANDBOX_URL,
# INGEST_URL, WEBHOOK_SECRET_FILE, ...). Results go to the file named by
# E2E_RESULTS, one line per check, so that run.sh can add them up; sourced
# on its own (by hand, against `scripts/stack.sh up`), it keeps a file of its
# own and t_summary counts that.
#
# A test file is a list of checks:
#     id=$(sandbox_add_doc acc_1001 samples/habibi.pdf | json_get documentId)
#     wait_until 30 doc_state_is "$id" verified \
#         && t_pass "habibi.pdf is verified" \
#         || t_fail "habibi.pdf is verified" "state is $(doc_state "$id")"

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ ! -f "$E2E_ROOT/.run/stack.env" ]; then
    echo "lib.sh: no $E2E_ROOT/.run/stack.env: start the stack with scripts/stack.sh up" >&2
    return 1
fi
# shellcheck disable=SC1091
. "$E2E_ROOT/.run/stack.env"

if [ -z "${E2E_RESULTS:-}" ]; then
    E2E_RESULTS=$(mktemp)
fi
export E2E_RESULTS

# ------------------------------------------------------------------ results

# t_pass NAME: records a passed check.
t_pass() {
    printf 'ok    %s\n' "$1"
    printf 'pass %s\n' "$1" >> "$E2E_RESULTS"
}

# t_fail NAME MSG: records a failed check and says why.
t_fail() {
    printf 'FAIL  %s: %s\n' "$1" "${2:-}"
    printf 'fail %s: %s\n' "$1" "${2:-}" >> "$E2E_RESULTS"
    return 0
}

# assert_eq NAME EXPECTED ACTUAL: passes when both are the same string;
# otherwise prints both. Returns 1 on a mismatch, so checks can chain.
assert_eq() {
    if [ "$2" = "$3" ]; then
        t_pass "$1"
    else
        t_fail "$1" "expected '$2', got '$3'"
        return 1
    fi
}

# t_summary: lists the failed checks, prints "N passed, N failed" as its last
# line and returns 1 when any check failed.
t_summary() {
    local passed failed
    passed=$(grep -c '^pass ' "$E2E_RESULTS" || true)
    failed=$(grep -c '^fail ' "$E2E_RESULTS" || true)
    if [ "$failed" -gt 0 ]; then
        echo "failed checks:"
        sed -n 's/^fail /  /p' "$E2E_RESULTS"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# wait_until TIMEOUT_S CMD...: runs CMD every 0.2 s until it succeeds
# (returns 0) or TIMEOUT_S seconds have passed (returns 1).
wait_until() {
    local deadline=$(( $(date +%s) + $1 ))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.2
    done
    return 0
}

# --------------------------------------------------------------------- JSON

# json_get PATH: reads JSON on stdin and prints the value at PATH, dotted
# keys and list indexes (documents.0.id); objects and lists print as JSON,
# a missing path prints nothing and returns 1.
json_get() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in filter(None, sys.argv[1].split(".")):
    try:
        value = value[int(part)] if isinstance(value, list) else value[part]
    except (KeyError, IndexError, ValueError, TypeError):
        sys.exit(1)
if isinstance(value, (dict, list)):
    print(json.dumps(value))
elif value is None:
    print("null")
elif isinstance(value, bool):
    print("true" if value else "false")
else:
    print(value)
' "$1"
}

# ------------------------------------------------------------------ sandbox

# http_status METHOD URL [JSON_BODY]: prints only the HTTP status code.
http_status() {
    local args=(-s -o /dev/null -w '%{http_code}' --max-time 10 -X "$1" "$2")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" || true
}

# sandbox_add_doc ACCOUNT PATH [JSON_EXTRAS]: adds the file at PATH (relative
# to the repo root or absolute) to the sandbox CRM for ACCOUNT, merging the
# JSON object JSON_EXTRAS into the request (fileName, documentId,
# deliveries, delayMs, webhook, ...). Prints the response
# ({"documentId", "webhookStatuses"}); returns 1 unless it is 201.
sandbox_add_doc() {
    local path=$2 body out status
    case $path in /*) ;; *) path=$E2E_ROOT/$path ;; esac
    body=$(python3 -c '
import json, sys
req = {"accountId": sys.argv[1], "path": sys.argv[2]}
req.update(json.loads(sys.argv[3]))
print(json.dumps(req))
' "$1" "$path" "${3:-{\}}") || return 1
    out=$(mktemp)
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' --data-binary "$body" \
        "$SANDBOX_URL/admin/crm/documents") || status=000
    cat "$out"
    rm -f "$out"
    [ "$status" = 201 ] || { echo "sandbox_add_doc: HTTP $status" >&2; return 1; }
}

# sandbox_delete_doc ID: removes a document from the CRM (its next fetch 404s).
sandbox_delete_doc() {
    [ "$(http_status DELETE "$SANDBOX_URL/admin/crm/documents/$1")" = 204 ]
}

# sandbox_fault JSON: arms a fault, e.g.
#     sandbox_fault '{"route":"tx_upload","count":2,"status":503}'
sandbox_fault() {
    local s
    s=$(http_status POST "$SANDBOX_URL/admin/faults" "$1")
    case $s in 2??) return 0 ;; *) echo "sandbox_fault: HTTP $s" >&2; return 1 ;; esac
}

# sandbox_reset: forgets documents, uploads and faults.
sandbox_reset() {
    local s
    s=$(http_status POST "$SANDBOX_URL/admin/reset")
    case $s in 2??) return 0 ;; *) echo "sandbox_reset: HTTP $s" >&2; return 1 ;; esac
}

# tx_documents: prints GET /admin/tx/documents
# ({"documents": [...], "uploadsBySource": {"doc_1": 1}}).
tx_documents() {
    curl -sf --max-time 10 "$SANDBOX_URL/admin/tx/documents"
}

# uploads_of DOCUMENT_ID: how many times the CRM document was uploaded to the
# transaction system (0 when never).
uploads_of() {
    tx_documents | json_get "uploadsBySource.$1" || echo 0
}

# ----------------------------------------------------------------- webhook

# webhook_signature BODY: the hex HMAC-SHA256 of BODY with the stack's secret.
webhook_signature() {
    python3 -c '
import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
print(hmac.new(key, sys.argv[2].encode(), hashlib.sha256).hexdigest())
' "$WEBHOOK_SECRET_FILE" "$1"
}

# post_webhook BODY [SIGNATURE]: posts BODY to ingest, signed correctly
# unless SIGNATURE is given; prints the HTTP status.
post_webhook() {
    local sig=${2:-$(webhook_signature "$1")}
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' \
        -H "$WEBHOOK_SIGNATURE_HEADER: $sig" \
        --data-binary "$1" "$WEBHOOK_URL" || true
}

# ------------------------------------------------------------ Redis, Kafka

redis_cmd() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }

# doc_state DOCUMENT_ID: the document's state in Redis, empty when unknown.
doc_state() { redis_cmd HGET "docsync:doc:$1" state; }

# doc_state_is DOCUMENT_ID STATE: for wait_until.
doc_state_is() { [ "$(doc_state "$1")" = "$2" ]; }

# topic_records TOPIC [FORMAT]: everything currently on TOPIC, one record a
# line, default format "%k %s".
topic_records() {
    timeout 30 kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q \
        -f "${2:-%k %s\n}"
}

# dlq_records: everything currently on docsync.dlq as "key headers value".
dlq_records() { topic_records docsync.dlq '%k %h %s\n'; }

# dlq_has DOCUMENT_ID: true when the DLQ holds a record keyed DOCUMENT_ID.
dlq_has() { dlq_records | grep "^$1 " >/dev/null; }

# stack CMD...: scripts/stack.sh, e.g. `stack stop-stage fetcher`.
stack() { "$E2E_ROOT/scripts/stack.sh" "$@"; }
