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
# line, default format "%k %s". A reader that stops at its first match
# (grep -q) may cut the writer off, and with pipefail the writer's SIGPIPE
# would fail the whole pipeline: here (and in log_since) it ends well
# however early its reader leaves.
topic_records() {
    timeout 30 kcat -C -b "$KAFKA_BROKERS" -t "$1" -o beginning -e -q \
        -f "${2:-%k %s\n}" || [ $? -eq 141 ]
}

# dlq_records: everything currently on docsync.dlq as "key headers value".
dlq_records() { topic_records docsync.dlq '%k %h %s\n'; }

# dlq_has DOCUMENT_ID: true when the DLQ holds a record keyed DOCUMENT_ID.
dlq_has() { dlq_records | grep "^$1 " >/dev/null; }

# stack CMD...: scripts/stack.sh, e.g. `stack stop-stage fetcher`.
stack() { "$E2E_ROOT/scripts/stack.sh" "$@"; }

# ------------------------------------------------------ helpers for t_10+

# uniq_id PREFIX: an id no other check, test file or earlier run uses, e.g.
# t20_dup_03231234567891 (letters, digits and _ only: a valid documentId).
# Made from the clock, so that it also works in $(...).
uniq_id() {
    printf '%s_%s\n' "$1" "$(date +%s%N | cut -c6-)"
}

# now_ms: wall-clock milliseconds, for measuring answers.
now_ms() { date +%s%3N; }

# event_json DOC_ID ACCOUNT [EVENT_ID] [TIMESTAMP] [FILE_NAME]: the compact
# webhook event of docs/contracts.md; EVENT_ID "-" leaves eventId out.
event_json() {
    python3 -c '
import json, sys
doc, acc, eid, ts, name = sys.argv[1:6]
ev = {}
if eid != "-":
    ev["eventId"] = eid
ev.update({"eventType": "DOCUMENT_CREATED", "documentId": doc,
           "accountId": acc, "fileName": name, "timestamp": ts})
print(json.dumps(ev, separators=(",", ":")))
' "$1" "$2" "${3:-evt_$1}" "${4:-2026-12-03T12:00:00Z}" "${5:-$1.pdf}"
}

# webhook_signature_file FILE: the hex HMAC-SHA256 of FILE's exact bytes
# (for bodies a shell string cannot carry: trailing newlines, Latin-1).
webhook_signature_file() {
    python3 -c '
import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
print(hmac.new(key, open(sys.argv[2], "rb").read(), hashlib.sha256).hexdigest())
' "$WEBHOOK_SECRET_FILE" "$1"
}

# post_webhook_file FILE [SIGNATURE] [RESPONSE_FILE]: posts FILE's bytes
# as they are to ingest, signed over those bytes unless SIGNATURE is given
# ("" means: sign correctly); keeps the response body in RESPONSE_FILE when
# given; prints the HTTP status.
post_webhook_file() {
    local sig=${2:-}
    [ -n "$sig" ] || sig=$(webhook_signature_file "$1")
    curl -s -o "${3:-/dev/null}" -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' \
        -H "$WEBHOOK_SIGNATURE_HEADER: $sig" \
        --data-binary "@$1" "$WEBHOOK_URL" || true
}

# ingest_metric RESULT: docsync_ingest_webhooks_total{result="RESULT"}.
ingest_metric() {
    curl -sf --max-time 5 "$INGEST_URL/metrics" \
        | sed -n "s/^docsync_ingest_webhooks_total{result=\"$1\"} //p"
}

# metrics_urls STAGE: the metrics URL of every replica of STAGE that
# scripts/stack.sh recorded (METRICS_URL_<STAGE>_<N>), one a line, read
# afresh from .run/stack.env so that a replica started since is included.
metrics_urls() {
    (
        # shellcheck disable=SC1091
        . "$E2E_ROOT/.run/stack.env"
        for v in $(compgen -v "METRICS_URL_$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')_"); do
            printf '%s\n' "${!v}"
        done
    )
}

# stage_metric STAGE SERIES: the value of SERIES, the name with its labels
# as the page spells them (docsync_records_total{stage="mapper",
# result="ok"}), summed over the replicas of STAGE that answer; nothing
# (and 1) when none shows the series.
stage_metric() {
    local url v values=()
    while read -r url; do
        [ -n "$url" ] || continue
        v=$(curl -sf --max-time 5 "$url/metrics" \
            | awk -v s="$2" 'index($0, s " ") == 1 { print $2 }')
        [ -n "$v" ] && values+=("$v")
    done < <(metrics_urls "$1")
    [ "${#values[@]}" -gt 0 ] || return 1
    python3 -c '
import sys
t = sum(map(float, sys.argv[1:]))
print(int(t) if t.is_integer() else t)
' "${values[@]}"
}

# topic_key_count TOPIC KEY: how many records on TOPIC have KEY.
topic_key_count() {
    topic_records "$1" '%k\n' | grep -cxF -- "$2" || true
}

# dlq_json DOCUMENT_ID: the DLQ records keyed DOCUMENT_ID as kcat -J prints
# them, one JSON object a line.
dlq_json() {
    timeout 30 kcat -C -b "$KAFKA_BROKERS" -t docsync.dlq -o beginning -e -q -J \
        | python3 -c '
import json, sys
for line in sys.stdin:
    rec = json.loads(line)
    if rec.get("key") == sys.argv[1]:
        print(json.dumps(rec))
' "$1"
}

# record_header RECORD NAME: the value of header NAME of RECORD, one line
# of kcat -J; nothing (and 1) when it has no such header.
record_header() {
    python3 -c '
import json, sys
h = json.loads(sys.argv[1] or "{}").get("headers") or []
pairs = dict(zip(h[0::2], h[1::2]))
if sys.argv[2] not in pairs:
    sys.exit(1)
print(pairs[sys.argv[2]])
' "$1" "$2"
}

# dlq_header DOCUMENT_ID NAME: the value of header NAME on the last DLQ
# record keyed DOCUMENT_ID; nothing (and 1) when there is none.
dlq_header() { record_header "$(dlq_json "$1" | tail -n 1)" "$2"; }

# dlq_count DOCUMENT_ID: how many DLQ records are keyed DOCUMENT_ID.
dlq_count() { dlq_json "$1" | grep -c . || true; }

# committed_offset GROUP TOPIC PARTITION: the offset GROUP has committed on
# that partition ("-" when none), read with Kafka's own group tool.
committed_offset() {
    java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        "-Dlog4j.configuration=file:$DOCSYNC_RUN_DIR/kafka/tools-log4j.properties" \
        -cp "$KAFKA_HOME/libs/*" \
        org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
        --bootstrap-server "$KAFKA_BROKERS" --describe --group "$1" 2>/dev/null \
        | awk -v t="$2" -v p="$3" '$2 == t && $3 == p { print $4 }'
}

# tx_doc_of DOCUMENT_ID: the transaction system's record (JSON) of the last
# copy uploaded for the CRM document, with storedPath.
tx_doc_of() {
    tx_documents | python3 -c '
import json, sys
docs = [d for d in json.load(sys.stdin)["documents"]
        if d.get("sourceDocumentId") == sys.argv[1]]
if not docs:
    sys.exit(1)
print(json.dumps(docs[-1]))
' "$1"
}

# mapped_transaction ACCOUNT: the transaction MAPPING_FILE gives ACCOUNT.
mapped_transaction() {
    awk -F, -v a="$1" 'NR > 1 && $1 == a { print $2 }' "$MAPPING_FILE"
}

# log_size FILE: the current length of a log, to read only what follows.
log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# log_since FILE OFFSET: what was appended to FILE after OFFSET bytes.
log_since() { tail -c +"$(( $2 + 1 ))" "$1" || [ $? -eq 141 ]; }

# doc_timeline DOCUMENT_ID: the document's timeline in Redis, one a line.
doc_timeline() { redis_cmd LRANGE "docsync:timeline:$1" 0 -1; }

# -------------------------------------------------------------- connectors

# sandbox_config JSON: merges JSON into the sandbox's config
# (POST /admin/config): auth modes, rate limits, token lifetime.
sandbox_config() {
    local s
    s=$(http_status POST "$SANDBOX_URL/admin/config" "$1")
    case $s in 2??) return 0 ;; *) echo "sandbox_config: HTTP $s" >&2; return 1 ;; esac
}

# sandbox_refusals FIELD: a count of GET /admin/refusals, e.g. overLimit,
# badTokens, reusedRefreshTokens, byApi.tx.overLimit.
sandbox_refusals() {
    curl -sf --max-time 10 "$SANDBOX_URL/admin/refusals" | json_get "$1"
}

# connector_variant SRC OUT PYTHON: writes to OUT the connector file SRC
# (relative to the repo root) changed by the Python statements PYTHON, which
# see the parsed file as `c`, e.g.
#     connector_variant connectors/sandbox-apikey.json "$dir/c.json" \
#         'c["destination"]["rateLimit"] = {"requests": 3, "windowMs": 2000}'
connector_variant() {
    python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"), indent=2)
' "$E2E_ROOT/$1" "$2" "$3"
}

# with_connector FILE STAGE... [-- KEY=VALUE...]: restarts replica 1 of each
# STAGE with CONNECTOR_FILE=FILE and the settings after "--".
with_connector() {
    local file=$1 stages=() extra=() s
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do stages+=("$1"); shift; done
    [ "${1:-}" = -- ] && { shift; extra=("$@"); }
    for s in "${stages[@]}"; do
        stack stop-stage "$s" 1 >/dev/null 2>&1 || true
        stack start-stage "$s" 1 CONNECTOR_FILE="$file" "${extra[@]}" >/dev/null \
            || { echo "with_connector: $s did not start" >&2; return 1; }
    done
}

# default_stages STAGE...: stops every replica of each STAGE and starts
# replica 1 again with the stack's own settings.
default_stages() {
    local s
    for s in "$@"; do
        stack stop-stage "$s" >/dev/null 2>&1 || true
        stack start-stage "$s" 1 >/dev/null 2>&1 || echo "default_stages: $s did not start" >&2
    done
}
