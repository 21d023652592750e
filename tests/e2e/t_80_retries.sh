# shellcheck shell=bash
# t_80_retries.sh - retries that do not stall. A document that keeps
# failing waits in the fetcher's retry topic while the documents behind it
# go through; a later event of the same document queues behind it; an
# outage opens the circuit breaker instead of spending every document's
# attempts; a CRM that answers 404 for a moment gets a short grace (C05).

FETCHER_LOG=$E2E_ROOT/.run/logs/fetcher.log
TMP=$(mktemp -d)

# Whatever happens below, the fetcher runs again with the stack's settings.
restore_fetcher() {
    stack stop-stage fetcher >/dev/null 2>&1
    stack start-stage fetcher >/dev/null 2>&1 || echo "t_80: fetcher not restarted" >&2
    rm -rf "$TMP"
}
trap restore_fetcher EXIT

# fetcher_lines DOC_ID OFFSET [STATUS]: the fetcher's outcome lines about
# DOC_ID since OFFSET, only those with STATUS when given.
fetcher_lines() {
    log_since "$FETCHER_LOG" "$2" | grep -F "\"documentId\":\"$1\"" \
        | grep -F "\"status\":\"${3:-}" || true
}
count_lines() { fetcher_lines "$@" | grep -c . || true; }
has_status() { [ "$(count_lines "$1" "$2" "$3")" -ge "${4:-1}" ]; }

# broken_doc ID: a CRM document whose content is longer than its metadata
# says, which the fetcher refuses as transient (source_size_mismatch) until
# mend_doc ID puts the file back. The webhook is sent by the caller.
broken_doc() {
    cp "$E2E_ROOT/samples/habibi.pdf" "$TMP/$1.pdf"
    sandbox_add_doc acc_1001 "$TMP/$1.pdf" "{\"documentId\":\"$1\",\"webhook\":false}" \
        >/dev/null
    printf 'trailing bytes the metadata does not announce' >> "$TMP/$1.pdf"
}
mend_doc() { truncate -s "$(stat -c %s "$E2E_ROOT/samples/habibi.pdf")" "$TMP/$1.pdf"; }

send_event() {
    post_webhook "$(event_json "$1" acc_1001 "$2" 2026-12-03T12:00:00Z habibi.pdf)"
}

# Retries of about 10 to 18 s in all: long enough to see the others pass.
stack stop-stage fetcher >/dev/null
stack start-stage fetcher 1 MAX_ATTEMPTS=6 BACKOFF_BASE_MS=2000 BACKOFF_CAP_MS=4000 \
    >/dev/null

# --- A document that keeps failing does not hold its partition.
slow=$(uniq_id t80_slow)
at=$(log_size "$FETCHER_LOG")
broken_doc "$slow"
assert_eq "the broken document's event is accepted" 202 "$(send_event "$slow" "evt_$slow")"
wait_until 20 has_status "$slow" "$at" RETRY \
    || t_fail "the broken document is retried" "no RETRY line in the fetcher's log"
assert_eq "its failure is transient: source_size_mismatch" 1 \
    "$(fetcher_lines "$slow" "$at" RETRY | head -n 1 | grep -c source_size_mismatch)"

others=()
for i in $(seq 1 12); do
    id=$(uniq_id "t80_other$i")
    others+=("$id")
    sandbox_add_doc acc_1002 samples/crazyones-pdfa.pdf "{\"documentId\":\"$id\"}" >/dev/null
done
all_verified() {
    local d
    for d in "${others[@]}"; do doc_state_is "$d" verified || return 1; done
}
wait_until 60 all_verified
verified=0
for d in "${others[@]}"; do doc_state_is "$d" verified && verified=$((verified + 1)); done
assert_eq "the 12 documents sent after it are verified" 12 "$verified"
assert_eq "meanwhile the broken one still waits for a retry (not in the DLQ)" "0 no" \
    "$(dlq_count "$slow") $(doc_state_is "$slow" verified && echo yes || echo no)"
assert_eq "it waits in the fetcher's retry topic, not in its partition" yes \
    "$([ "$(topic_key_count docsync.retry.fetcher "$slow")" -ge 1 ] && echo yes || echo no)"

# --- A later event of the same document queues behind the waiting one.
assert_eq "a second event of the waiting document is accepted" 202 \
    "$(send_event "$slow" "evt2_$slow")"
wait_until 20 has_status "$slow" "$at" QUEUED \
    || t_fail "the second event queues behind the first" "no QUEUED line"
mend_doc "$slow"
wait_until 30 doc_state_is "$slow" verified
assert_eq "once the CRM serves the whole file the document is verified" verified \
    "$(doc_state "$slow")"
wait_until 20 has_status "$slow" "$at" SUCCESS 2
assert_eq "both of its events were fetched, the first then the queued one" 2 \
    "$(count_lines "$slow" "$at" SUCCESS)"
assert_eq "it is uploaded exactly once" 1 "$(uploads_of "$slow")"
assert_eq "nothing of it went to the DLQ" 0 "$(dlq_count "$slow")"
assert_eq "its order queue is gone once both are done" 0 \
    "$(redis_cmd EXISTS "docsync:order:fetcher:$slow")"

# --- An outage opens the breaker: documents wait, none is dead-lettered.
# Two tries each would dead-letter every document if an outage spent them.
stack stop-stage fetcher >/dev/null
stack start-stage fetcher 1 MAX_ATTEMPTS=2 BREAKER_THRESHOLD=2 BREAKER_COOLDOWN_MS=500 \
    BREAKER_COOLDOWN_MAX_MS=2000 >/dev/null
at=$(log_size "$FETCHER_LOG")
sandbox_fault '{"route":"crm_meta","count":10,"status":503}' \
    || t_fail "the sandbox arms ten 503s" "POST /admin/faults failed"
outage=()
for i in 1 2 3 4; do
    id=$(uniq_id "t80_outage$i")
    outage+=("$id")
    sandbox_add_doc acc_1003 samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
done
outage_done() {
    local d
    for d in "${outage[@]}"; do
        doc_state_is "$d" verified || dlq_has "$d" || return 1
    done
}
wait_until 60 outage_done
ok=0
for d in "${outage[@]}"; do doc_state_is "$d" verified && ok=$((ok + 1)); done
assert_eq "after ten 503s the 4 documents are all verified" 4 "$ok"
dead=0
for d in "${outage[@]}"; do dead=$((dead + $(dlq_count "$d"))); done
assert_eq "none of them was dead-lettered for the outage" 0 "$dead"
assert_eq "the fetcher logged the circuit opening" yes \
    "$(log_since "$FETCHER_LOG" "$at" | grep -q 'circuit open' && echo yes || echo no)"
assert_eq "and closing again" yes \
    "$(log_since "$FETCHER_LOG" "$at" | grep -q 'circuit closed' && echo yes || echo no)"
assert_eq "the fetcher's metrics count the openings for http_503" yes \
    "$(v=$(stage_metric fetcher 'docsync_breaker_openings_total{stage="fetcher",reason="http_503"}')
       [ "${v:-0}" -ge 1 ] && echo yes || echo "no (${v:-none})")"
assert_eq "and show the breaker closed again" 0 \
    "$(stage_metric fetcher 'docsync_breaker_open{stage="fetcher"}')"

# --- C05: a 404 for a moment is not final.
grace=$(uniq_id t80_grace)
at=$(log_size "$FETCHER_LOG")
sandbox_fault '{"route":"crm_meta","count":1,"status":404}' \
    || t_fail "the sandbox arms one 404" "POST /admin/faults failed"
sandbox_add_doc acc_1001 samples/habibi.pdf "{\"documentId\":\"$grace\"}" >/dev/null
wait_until 30 doc_state_is "$grace" verified
assert_eq "C05: a document the CRM answered 404 for once is verified" verified \
    "$(doc_state "$grace")"
assert_eq "C05: the 404 was retried as source_not_found (grace)" 1 \
    "$(fetcher_lines "$grace" "$at" RETRY | grep -c source_not_found || true)"
