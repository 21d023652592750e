# shellcheck shell=bash
# t_94_poll.sh - ingest in poll mode, beside the webhook ingest: documents
# the CRM announces by no webhook are found by listing it, page by page;
# one created "in the past" by a CRM whose clock is behind is found through
# the overlap window; a poller killed and started again produces no
# document twice, and the cursor in Redis moves on.

restore() {
    stack stop-stage ingest 2 >/dev/null 2>&1 || true
}
trap restore EXIT

redis_cmd DEL docsync:poll:cursor >/dev/null
stack start-stage ingest 2 INGEST_MODE=poll POLL_INTERVAL_MS=500 POLL_PAGE_LIMIT=2 >/dev/null
sleep 2

ids=()
for n in 1 2 3 4 5; do
    ids+=("$(uniq_id "t94_$n")")
    sandbox_add_doc "acc_100$(( n % 3 + 1 ))" samples/minimal-document.pdf \
        "{\"documentId\":\"${ids[-1]}\",\"webhook\":false}" >/dev/null
done
# Created 20 s ago by the CRM's clock: before the cursor, inside the overlap.
late=$(uniq_id t94_late)
sandbox_add_doc acc_1001 samples/minimal-document.pdf \
    "{\"documentId\":\"$late\",\"webhook\":false,
      \"createdAt\":\"$(date -u -d '-20 seconds' +%Y-%m-%dT%H:%M:%S.000Z)\"}" >/dev/null
ids+=("$late")

verified=0
for id in "${ids[@]}"; do
    wait_until 60 doc_state_is "$id" verified && verified=$((verified + 1))
done
assert_eq "six documents sent without webhooks are found and verified" 6 "$verified"
assert_eq "the late one (20 s in the past) is among them" verified "$(doc_state "$late")"

cursor=$(redis_cmd GET docsync:poll:cursor)
[ -n "$cursor" ] && echo "$cursor" | json_get since >/dev/null \
    && t_pass "the cursor is stored in Redis ($cursor)" \
    || t_fail "the cursor is stored in Redis" "got '$cursor'"
pages=$(stage_metric ingest docsync_poll_pages_total 2>/dev/null || true)
[ "${pages:-0}" -ge 3 ] 2>/dev/null && t_pass "pages of 2 were followed ($pages pages)" \
    || t_fail "pages of 2 were followed" "docsync_poll_pages_total=${pages:-none}"

# --- A crash of the poller, and a start from the stored cursor.
stack kill-stage ingest 2 >/dev/null
more=$(uniq_id t94_after)
sandbox_add_doc acc_1002 samples/minimal-document.pdf \
    "{\"documentId\":\"$more\",\"webhook\":false}" >/dev/null
stack start-stage ingest 2 INGEST_MODE=poll POLL_INTERVAL_MS=500 POLL_PAGE_LIMIT=2 >/dev/null
wait_until 60 doc_state_is "$more" verified \
    && t_pass "after a restart the poller finds the next document" \
    || t_fail "after a restart the poller finds the next document" "state $(doc_state "$more")"
sleep 3
twice=0 uploads=0
for id in "${ids[@]}" "$more"; do
    [ "$(topic_key_count docsync.events "$id")" = 1 ] || twice=$((twice + 1))
    [ "$(uploads_of "$id")" = 1 ] && uploads=$((uploads + 1))
done
assert_eq "no document is on docsync.events twice, overlap and restart included" 0 "$twice"
assert_eq "each is uploaded once" 7 "$uploads"
