# shellcheck shell=bash
# t_60_kafka_down.sh - C15: while no broker is reachable ingest answers 503
# within its delivery timeout, never a 2xx (not even to a second copy that
# arrives while the first waits), and forgets the event so that the sender's
# retry is accepted once Kafka is back.

# The stack leaves INGEST_DELIVERY_TIMEOUT_MS unset: ingest's default holds,
# which its --help states.
DELIVERY_MS=${INGEST_DELIVERY_TIMEOUT_MS:-$("$E2E_ROOT/bin/docsync-ingest" --help \
    | sed -n 's/.*INGEST_DELIVERY_TIMEOUT_MS (\([0-9]*\)).*/\1/p')}
DELIVERY_MS=${DELIVERY_MS:-5000}
MARGIN_MS=2000   # librdkafka scans for timed-out messages once a second

# Whatever happens below, the stack gets its Kafka back.
kafka_stopped=0
restore_kafka() {
    if [ "$kafka_stopped" -eq 1 ]; then
        stack kafka-start >/dev/null 2>&1 || echo "t_60: could not restart Kafka" >&2
        kafka_stopped=0
    fi
}
trap restore_kafka EXIT
trap 'restore_kafka; exit 1' TERM INT

id=$(uniq_id t60_down)
sandbox_add_doc acc_1002 samples/crazyones-pdfa.pdf \
    "{\"documentId\":\"$id\",\"webhook\":false}" >/dev/null
body=$(event_json "$id" acc_1002 "evt_$id" 2026-12-03T12:00:00Z crazyones-pdfa.pdf)
sig=$(webhook_signature "$body")
unavailable_before=$(ingest_metric unavailable)
tmp=$(mktemp -d)
resp=$tmp/resp

# post_timed [RESPONSE_FILE]: posts the event; prints "STATUS MILLISECONDS".
post_timed() {
    curl -s -o "${1:-$resp}" -w '%{http_code} %{time_total}' --max-time 30 \
        -H 'Content-Type: application/json' \
        -H "$WEBHOOK_SIGNATURE_HEADER: $sig" --data-binary "$body" "$WEBHOOK_URL" \
        | awk '{ printf "%s %d\n", $1, $2 * 1000 }'
}

kafka_stopped=1
stack kafka-stop >/dev/null
if kcat -L -b "$KAFKA_BROKERS" -m 2 >/dev/null 2>&1; then
    t_fail "Kafka is unreachable after kafka-stop" "kcat -L still answers"
else
    t_pass "Kafka is unreachable after kafka-stop"
fi

# The sender posts; 300 ms later, its own retry of the same delivery (a
# sender with a short timeout, C03) arrives while the first copy still waits
# for the broker.
post_timed > "$tmp/first" &
first_pid=$!
sleep 0.3
read -r status2 took2 <<< "$(post_timed "$tmp/resp2")"
wait "$first_pid"
read -r status took < "$tmp/first"
assert_eq "C15: with Kafka down a valid webhook gets 503" 503 "$status"
echo "note  the 503 came after ${took:-?} ms (INGEST_DELIVERY_TIMEOUT_MS $DELIVERY_MS)"
if [ "${took:-99999}" -le $(( DELIVERY_MS + MARGIN_MS )) ]; then
    t_pass "C15: the 503 comes within INGEST_DELIVERY_TIMEOUT_MS + ${MARGIN_MS} ms"
else
    t_fail "C15: the 503 comes within INGEST_DELIVERY_TIMEOUT_MS + ${MARGIN_MS} ms" \
        "took ${took:-?} ms, bound $(( DELIVERY_MS + MARGIN_MS )) ms"
fi
if [ "${took:-0}" -ge $(( DELIVERY_MS / 2 )) ]; then
    t_pass "C15: ingest waited for the delivery report before the 503"
else
    t_fail "C15: ingest waited for the delivery report before the 503" \
        "answered after ${took:-?} ms"
fi
# No 2xx before the event's delivery report succeeded: the copy that came
# while the first was pending must not be told "done" (a 200 duplicate),
# or the sender stops retrying and the event is lost when the first fails.
why="got $status2 after ${took2:-?} ms ($(head -c 120 "$tmp/resp2"))"
case $status2 in
    2??) t_fail "C15: a copy posted while the first waits for the broker gets no 2xx" \
             "$why; the first got $status" ;;
    *)   t_pass "C15: a copy posted while the first waits for the broker gets no 2xx" ;;
esac
# That copy, too, is answered before a sender's 10 s timeout (C03): it may
# wait for the first copy's outcome, but not then start a second wait.
if [ "${took2:-99999}" -le $(( DELIVERY_MS + MARGIN_MS )) ]; then
    t_pass "C15: the copy's answer also comes within INGEST_DELIVERY_TIMEOUT_MS + ${MARGIN_MS} ms"
else
    t_fail "C15: the copy's answer also comes within INGEST_DELIVERY_TIMEOUT_MS + ${MARGIN_MS} ms" \
        "took ${took2:-?} ms"
fi
assert_eq "C15: the 503 names the reason kafka_unavailable" kafka_unavailable \
    "$(json_get error < "$resp")"
answered_503=$(( 1 + $([ "$status2" = 503 ] && echo 1 || echo 0) ))
assert_eq "C15: ingest counts each 503 as unavailable" \
    $(( ${unavailable_before:-0} + answered_503 )) "$(ingest_metric unavailable)"
assert_eq "C15: the document is not marked received" "" "$(doc_state "$id")"

stack kafka-start >/dev/null && kafka_stopped=0
assert_eq "Kafka answers again after kafka-start" 0 "$kafka_stopped"

# The sender retries; the first try was never accepted, so the retry is not
# a duplicate. Until the producer has reconnected a retry may see 503 again.
tries=0
deadline=$(( $(date +%s) + 30 ))
while :; do
    read -r status took <<< "$(post_timed)"
    tries=$((tries + 1))
    [ "$status" = 503 ] && [ "$(date +%s)" -lt "$deadline" ] || break
    sleep 1
done
assert_eq "C15: once Kafka is back the same webhook is accepted (202), not a duplicate" \
    202 "$status"
echo "note  accepted at try $tries after kafka-start"
rm -rf "$tmp"

# After the broker's restart a consumer may wait up to a minute for its
# group coordinator (librdkafka's query backoff) before it takes records.
wait_until 120 doc_state_is "$id" verified
assert_eq "the document ends verified after the outage" verified "$(doc_state "$id")"
assert_eq "the document is uploaded once" 1 "$(uploads_of "$id")"
assert_eq "the event is on docsync.events once (the 503'd try never got in)" 1 \
    "$(topic_key_count docsync.events "$id")"
