# shellcheck shell=bash
# t_20_duplicates.sh - C02: one event delivered three times is uploaded once;
# every copy gets a 2xx, the copies are counted and logged as duplicates.
# A different event for the same document is not a duplicate.

# --- C02: the sandbox sends the same signed body three times, 200 ms apart.
id=$(uniq_id t20_dup)
dups_before=$(ingest_metric duplicate)
log_at=$(log_size "$E2E_ROOT/.run/logs/ingest.log")
out=$(sandbox_add_doc acc_1001 samples/minimal-document.pdf \
    "{\"documentId\":\"$id\",\"deliveries\":3,\"delayMs\":200}") || out='{}'
statuses=$(echo "$out" | json_get webhookStatuses | tr -d ' ')
if [[ $statuses =~ ^\[2[0-9][0-9],2[0-9][0-9],2[0-9][0-9]\]$ ]]; then
    t_pass "all three deliveries of one event get a 2xx"
else
    t_fail "all three deliveries of one event get a 2xx" "statuses $statuses"
fi
assert_eq "the first delivery is accepted, the copies answered 200" \
    '[202,200,200]' "$statuses"

wait_until 30 doc_state_is "$id" verified
assert_eq "the thrice-delivered document ends verified" verified "$(doc_state "$id")"
assert_eq "the thrice-delivered document is uploaded once" 1 "$(uploads_of "$id")"
assert_eq "the event is produced once to docsync.events" 1 \
    "$(topic_key_count docsync.events "$id")"
assert_eq "ingest's metric counts the two copies as duplicates" \
    $(( ${dups_before:-0} + 2 )) "$(ingest_metric duplicate)"
dup_lines=$(log_since "$E2E_ROOT/.run/logs/ingest.log" "$log_at" \
    | grep -F "\"documentId\":\"$id\"" | grep -c '"status":"DUPLICATE"' || true)
assert_eq "ingest logs each copy with status DUPLICATE" 2 "$dup_lines"

# --- A later event for the same document (new eventId and timestamp) is a
# real update: ingest must accept it, not drop it on the documentId alone.
accepted_before=$(ingest_metric accepted)
later=$(event_json "$id" acc_1001 "evt_${id}_later" 2026-12-03T13:00:00Z \
    minimal-document.pdf)
assert_eq "a second event for the same document with a new eventId is accepted" \
    202 "$(post_webhook "$later")"
assert_eq "ingest counts it as accepted, not as a duplicate" \
    $(( ${accepted_before:-0} + 1 )) "$(ingest_metric accepted)"
assert_eq "both events of the document are on docsync.events" 2 \
    "$(topic_key_count docsync.events "$id")"
# The second event travels the pipeline too; the uploader finds the
# destination id recorded and does not attach the file again.
verified_twice() {
    [ "$(doc_timeline "$id" | grep -c ':verifier:verified:')" -ge 2 ]
}
wait_until 30 verified_twice && t_pass "the second event is processed to verified" \
    || t_fail "the second event is processed to verified" \
              "timeline: $(doc_timeline "$id" | paste -sd' ')"
assert_eq "the second event does not upload the document again" 1 "$(uploads_of "$id")"

# --- Without an eventId the identity is (eventType, documentId, timestamp).
id2=$(uniq_id t20_noid)
sandbox_add_doc acc_1002 samples/habibi.pdf \
    "{\"documentId\":\"$id2\",\"webhook\":false}" >/dev/null
first=$(event_json "$id2" acc_1002 - 2026-12-03T12:00:00Z habibi.pdf)
assert_eq "an event without eventId is accepted" 202 "$(post_webhook "$first")"
assert_eq "the same event without eventId again is a duplicate (200)" 200 \
    "$(post_webhook "$first")"
second=$(event_json "$id2" acc_1002 - 2026-12-03T12:05:00Z habibi.pdf)
assert_eq "without eventId, a new timestamp for the same document is accepted" \
    202 "$(post_webhook "$second")"
wait_until 30 doc_state_is "$id2" verified
assert_eq "the document announced without eventId is uploaded once" 1 \
    "$(uploads_of "$id2")"
