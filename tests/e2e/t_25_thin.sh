# shellcheck shell=bash
# t_25_thin.sh - a thin webhook (DOCUMENTS_CREATED: document ids only, no
# accountId) fans out into one event per document: each document is
# fetched, mapped with the CRM's accountId, uploaded once and verified. The
# same thin webhook again is a duplicate for every document; a thin event
# with bad documentIds is refused with 400.

# sandbox_thin JSON: POST /admin/crm/webhooks/thin; prints the answer
# ({"eventId","timestamp","webhookStatus","answer"}).
sandbox_thin() {
    curl -s --max-time 30 -H 'Content-Type: application/json' \
        --data-binary "$1" "$SANDBOX_URL/admin/crm/webhooks/thin"
}

# --- Three documents in the CRM, announced by one thin webhook only.
ids=()
for n in 1 2 3; do
    ids+=("$(uniq_id "t25_thin_$n")")
    sandbox_add_doc "acc_100$n" samples/minimal-document.pdf \
        "{\"documentId\":\"${ids[-1]}\",\"webhook\":false}" >/dev/null
done
list=$(printf '"%s",' "${ids[@]}")
list="[${list%,}]"
accepted_before=$(ingest_metric accepted)

out=$(sandbox_thin "{\"documentIds\":$list}") || out='{}'
assert_eq "the thin webhook is answered 202" 202 \
    "$(echo "$out" | json_get webhookStatus)"
assert_eq "the answer lists each document as accepted" \
    "accepted accepted accepted" \
    "$(echo "$out" | json_get answer.documents \
       | python3 -c 'import json,sys; print(*[d["status"] for d in json.load(sys.stdin)])')"
assert_eq "ingest counts one accepted per document" \
    $(( ${accepted_before:-0} + 3 )) "$(ingest_metric accepted)"

for n in 0 1 2; do
    id=${ids[$n]}
    wait_until 60 doc_state_is "$id" verified \
        && t_pass "thin document $((n + 1)) is verified" \
        || t_fail "thin document $((n + 1)) is verified" \
                  "state is $(doc_state "$id")"
    assert_eq "thin document $((n + 1)) is uploaded once" 1 "$(uploads_of "$id")"
    assert_eq "thin document $((n + 1)) is one event on docsync.events" 1 \
        "$(topic_key_count docsync.events "$id")"
    assert_eq "thin document $((n + 1)) went to its account's transaction" \
        "$(mapped_transaction "acc_100$((n + 1))")" \
        "$(tx_doc_of "$id" | json_get transactionId)"
done

# --- The same thin webhook again (same eventId, timestamp and ids).
event_id=$(echo "$out" | json_get eventId)
stamp=$(echo "$out" | json_get timestamp)
again=$(sandbox_thin "{\"documentIds\":$list,\"eventId\":\"$event_id\",\"timestamp\":\"$stamp\"}") \
    || again='{}'
assert_eq "the resent thin webhook is answered 200" 200 \
    "$(echo "$again" | json_get webhookStatus)"
assert_eq "the resent thin webhook is a duplicate" duplicate \
    "$(echo "$again" | json_get answer.status)"
sleep 2
for n in 0 1 2; do
    assert_eq "after the resend, thin document $((n + 1)) is still uploaded once" \
        1 "$(uploads_of "${ids[$n]}")"
    assert_eq "after the resend, thin document $((n + 1)) is still one event" \
        1 "$(topic_key_count docsync.events "${ids[$n]}")"
done

# --- Bad documentIds: a repeated id, and an id that is a path.
bad=$(sandbox_thin "{\"documentIds\":[\"${ids[0]}\",\"${ids[0]}\"]}") || bad='{}'
assert_eq "a thin event with a repeated id gets 400" 400 \
    "$(echo "$bad" | json_get webhookStatus)"
assert_eq "its answer names documentIds" documentIds \
    "$(echo "$bad" | json_get answer.field)"
bad=$(sandbox_thin '{"documentIds":["../etc/passwd"]}') || bad='{}'
assert_eq "a thin event with an id that is a path gets 400" 400 \
    "$(echo "$bad" | json_get webhookStatus)"
bad=$(sandbox_thin '{"documentIds":[]}') || bad='{}'
assert_eq "a thin event with no ids gets 400" 400 \
    "$(echo "$bad" | json_get webhookStatus)"
