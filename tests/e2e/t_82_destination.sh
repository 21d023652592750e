# shellcheck shell=bash
# t_82_destination.sh - exactly once in effect against a destination that
# misbehaves: a Redis that lost all its data does not cause a second upload
# (the uploader finds the copy first), and a destination that accepts an
# upload and then loses it or stores other bytes has the document
# dead-lettered with missing_after_upload or checksum_mismatch.

chaos() {
    [ "$(http_status POST "$SANDBOX_URL/admin/chaos" "$1")" = 200 ] \
        || t_fail "the sandbox takes the chaos settings $1" "POST /admin/chaos failed"
}
trap 'chaos "{}"' EXIT

replays() { tx_documents | json_get idempotentReplays || echo 0; }

# --- Redis loses everything after a document was synced.
id=$(uniq_id t82_flush)
sandbox_add_doc acc_1001 samples/habibi.pdf "{\"documentId\":\"$id\",\"webhook\":false}" \
    >/dev/null
body=$(event_json "$id" acc_1001 "evt_$id" 2026-12-03T12:00:00Z habibi.pdf)
assert_eq "the event is accepted" 202 "$(post_webhook "$body")"
wait_until 30 doc_state_is "$id" verified
assert_eq "the document is verified" verified "$(doc_state "$id")"
first=$(tx_doc_of "$id" | json_get id)
before=$(replays)
redis_cmd FLUSHALL >/dev/null
assert_eq "after FLUSHALL Redis knows nothing of it" "" "$(doc_state "$id")"
assert_eq "the sender's copy of the event is accepted again (its dedupe mark is gone)" \
    202 "$(post_webhook "$body")"
wait_until 30 doc_state_is "$id" verified
assert_eq "it runs through the pipeline again to verified" verified "$(doc_state "$id")"
assert_eq "it is still uploaded exactly once" 1 "$(uploads_of "$id")"
assert_eq "found by the lookup, not even replayed by Idempotency-Key" "$before" "$(replays)"
assert_eq "the recorded destination id is the first copy's" "$first" \
    "$(redis_cmd HGET "docsync:doc:$id" destinationDocumentId)"

# --- The destination stores other bytes than it was sent.
chaos '{"txCorruptRate": 1.0, "seed": 1}'
id=$(uniq_id t82_corrupt)
sandbox_add_doc acc_1002 samples/libreoffice-form.pdf "{\"documentId\":\"$id\"}" >/dev/null
wait_until 30 dlq_has "$id"
assert_eq "a corrupted copy is dead-lettered as checksum_mismatch" checksum_mismatch \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "by the verifier" verifier "$(dlq_header "$id" __connect.errors.stage)"
assert_eq "as permanent" permanent "$(dlq_header "$id" __connect.errors.exception.class.name)"
assert_eq "the document is marked failed, never verified" failed "$(doc_state "$id")"

# --- The destination answers 201 and then loses the upload.
chaos '{"txLoseRate": 1.0, "seed": 1}'
id=$(uniq_id t82_lost)
sandbox_add_doc acc_1003 samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
wait_until 30 dlq_has "$id"
assert_eq "a lost copy is dead-lettered as missing_after_upload" missing_after_upload \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "the document is marked failed, never verified" failed "$(doc_state "$id")"
chaos '{}'

# --- Both refused copies are uploaded again by a replay to the uploader.
ctl() { "$E2E_ROOT/bin/docsyncctl" "$@"; }
for pair in "$(uniq_id t82_fixc):txCorruptRate" "$(uniq_id t82_fixl):txLoseRate"; do
    id=${pair%%:*}
    chaos "{\"${pair#*:}\": 1.0, \"seed\": 2}"
    sandbox_add_doc acc_1002 samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
    wait_until 30 dlq_has "$id"
    reason=$(dlq_header "$id" docsync.reason)
    chaos '{}'
    assert_eq "$reason: the verifier forgot the refused copy" "" \
        "$(redis_cmd HGET "docsync:doc:$id" \
            "upload:$(sha256sum < "$E2E_ROOT/samples/habibi.pdf" | cut -d' ' -f1):$(mapped_transaction acc_1002)")"
    out=$(ctl dlq replay --document "$id" --to docsync.mapped 2>&1)
    assert_eq "$reason: docsyncctl replays it to docsync.mapped" 1 \
        "$(echo "$out" | grep -c "^replayed .* to docsync.mapped$" || true)"
    wait_until 30 doc_state_is "$id" verified
    assert_eq "$reason: after the replay the document is verified" verified "$(doc_state "$id")"
    assert_eq "$reason: the recorded copy is the new one" \
        "$(tx_doc_of "$id" | json_get id)" \
        "$(redis_cmd HGET "docsync:doc:$id" destinationDocumentId)"
    assert_eq "$reason: the verified copy holds the file's bytes" \
        "$(md5sum < "$E2E_ROOT/samples/habibi.pdf" | cut -d' ' -f1)" \
        "$(tx_doc_of "$id" | json_get md5Checksum)"
done
