# shellcheck shell=bash
# t_85_outages.sh - a dependency that goes away pauses the work instead of
# dead-lettering it: Redis down for 30 s (C18), the broker down for 30 s,
# and a stage stopped with SIGTERM while documents flow. Afterwards every
# document is verified, uploaded once, and none is in the DLQ.

OUTAGE_S=${OUTAGE_S:-30}

redis_stopped=0
kafka_stopped=0
restore() {
    stack start-stage fetcher >/dev/null 2>&1 || true
    [ "$redis_stopped" -eq 1 ] && { stack redis-start >/dev/null 2>&1 || true; }
    [ "$kafka_stopped" -eq 1 ] && { stack kafka-start >/dev/null 2>&1 || true; }
    stack start-stage uploader >/dev/null 2>&1 || true
}
trap restore EXIT

# add_docs PREFIX N: adds N documents (webhooks sent) and prints their ids.
add_docs() {
    local i id
    for i in $(seq 1 "$2"); do
        id=$(uniq_id "$1$i")
        sandbox_add_doc acc_1002 samples/libreoffice-form.pdf \
            "{\"documentId\":\"$id\"}" >/dev/null && echo "$id"
    done
}

# check_all NAME IDS...: every document verified, uploaded once, no DLQ.
check_all() {
    local name=$1 d ok=0 once=0 dead=0
    shift
    all_done() {
        local x
        for x in "$@"; do doc_state_is "$x" verified || return 1; done
    }
    wait_until 120 all_done "$@"
    for d in "$@"; do
        doc_state_is "$d" verified && ok=$((ok + 1))
        [ "$(uploads_of "$d")" = 1 ] && once=$((once + 1))
        dead=$((dead + $(dlq_count "$d")))
    done
    assert_eq "$name: all $# documents verified" "$#" "$ok"
    assert_eq "$name: each uploaded exactly once" "$#" "$once"
    assert_eq "$name: none dead-lettered" 0 "$dead"
}

# --- Redis goes away for 30 s with documents waiting for the fetcher.
stack stop-stage fetcher >/dev/null
mapfile -t docs < <(add_docs t85_redis 8)
assert_eq "8 documents accepted before the Redis outage" 8 "${#docs[@]}"
at=$(for f in "$E2E_ROOT"/.run/logs/{fetcher,mapper,uploader,verifier}.log; do
        log_size "$f"; done | paste -sd' ')
stack redis-stop >/dev/null && redis_stopped=1
stack start-stage fetcher >/dev/null
late=$(uniq_id t85_late)
sandbox_add_doc acc_1002 samples/habibi.pdf "{\"documentId\":\"$late\",\"webhook\":false}" \
    >/dev/null
body=$(event_json "$late" acc_1002 "evt_$late" 2026-12-03T12:00:00Z habibi.pdf)
assert_eq "C18: while Redis is down ingest answers 503, not 2xx" 503 "$(post_webhook "$body")"
sleep "$OUTAGE_S"
stack redis-start >/dev/null && redis_stopped=0
assert_eq "C18: once Redis is back the sender's retry is accepted" 202 "$(post_webhook "$body")"
check_all "Redis outage of ${OUTAGE_S}s" "${docs[@]}" "$late"
paused=0
i=0
for f in "$E2E_ROOT"/.run/logs/{fetcher,mapper,uploader,verifier}.log; do
    i=$((i + 1))
    off=$(echo "$at" | cut -d' ' -f"$i")
    log_since "$f" "$off" | grep -q 'circuit open' && paused=$((paused + 1))
done
assert_eq "C18: the stages paused on the outage (circuit open logged)" yes \
    "$([ "$paused" -ge 1 ] && echo yes || echo no)"

# --- The broker goes away for 30 s with uploads in flight.
sandbox_fault '{"route":"tx_upload","count":2,"delayMs":4000}' \
    || t_fail "the sandbox arms slow uploads" "POST /admin/faults failed"
mapfile -t docs < <(add_docs t85_kafka 8)
assert_eq "8 documents accepted before the broker outage" 8 "${#docs[@]}"
stack kafka-stop >/dev/null && kafka_stopped=1
sleep "$OUTAGE_S"
stack kafka-start >/dev/null && kafka_stopped=0
check_all "broker outage of ${OUTAGE_S}s" "${docs[@]}"

# --- SIGTERM to the uploader while documents flow: a bounded stop.
mapfile -t docs < <(add_docs t85_term 12)
sleep 1
t0=$(now_ms)
said=$(stack stop-stage uploader 2>&1)
took=$(( $(now_ms) - t0 ))
bound=$(( HTTP_TIMEOUT_MS + 5000 ))
assert_eq "SIGTERM: the uploader stopped within ${bound} ms (took ${took})" yes \
    "$([ "$took" -le "$bound" ] && echo yes || echo no)"
assert_eq "SIGTERM: it exited by itself, not by SIGKILL" 0 \
    "$(echo "$said" | grep -c 'SIGKILL' || true)"
stack start-stage uploader >/dev/null
check_all "SIGTERM under load" "${docs[@]}"
