# shellcheck shell=bash
# t_93_mapping.sh - where the mapper finds an account's transaction, and
# that it never guesses:
#   - MAPPING_SOURCE=redis: the hash `docsyncctl mapping load` fills. An
#     account the table names twice is ambiguous_mapping, one it does not
#     name is unmapped_account; both go to the DLQ and nothing is uploaded.
#   - MAPPING_SOURCE=lookup: the transaction system's accounts route, with
#     0, 1 and 2 matches; answers are cached in Redis.

dir=$(mktemp -d)
restore() {
    default_stages mapper
    rm -rf "$dir"
}
trap restore EXIT

# outcome ID: verified, or the DLQ reason, or the state after 45 s.
outcome() {
    local id=$1 i
    for i in $(seq 1 90); do
        doc_state_is "$id" verified && { echo verified; return; }
        if dlq_has "$id"; then dlq_header "$id" docsync.reason; return; fi
        sleep 0.5
    done
    echo "state=$(doc_state "$id")"
}

# one ACCOUNT TAG: adds a document for ACCOUNT; prints its id.
one() {
    local id
    id=$(uniq_id "t93_$2")
    sandbox_add_doc "$1" samples/minimal-document.pdf "{\"documentId\":\"$id\"}" >/dev/null
    echo "$id"
}

# --- The Redis hash.
printf 'accountId,transactionId\nacc_9001,txn_5003\nacc_9002,txn_5001\nacc_9002,txn_5002\n' \
    > "$dir/mapping.csv"
bin/docsyncctl mapping load "$dir/mapping.csv" >/dev/null \
    && t_pass "docsyncctl mapping load loads a table" \
    || t_fail "docsyncctl mapping load loads a table"
assert_eq "mapping show gives the account's transaction" txn_5003 \
    "$(bin/docsyncctl mapping show acc_9001 | awk '{print $2}')"
stack stop-stage mapper >/dev/null 2>&1 || true
stack start-stage mapper 1 MAPPING_SOURCE=redis >/dev/null
ok=$(one acc_9001 redis_ok); amb=$(one acc_9002 redis_amb); none=$(one acc_9009 redis_none)
assert_eq "redis: a mapped account is verified" verified "$(outcome "$ok")"
assert_eq "redis: ... in the hash's transaction" txn_5003 \
    "$(tx_doc_of "$ok" | json_get transactionId)"
assert_eq "redis: an account named twice is ambiguous_mapping" ambiguous_mapping \
    "$(outcome "$amb")"
assert_eq "redis: an account not named is unmapped_account" unmapped_account \
    "$(outcome "$none")"
assert_eq "redis: the ambiguous document is not uploaded anywhere" 0 "$(uploads_of "$amb")"
assert_eq "redis: the unmapped document is not uploaded anywhere" 0 "$(uploads_of "$none")"

# --- A lookup at the transaction system.
accounts() {
    http_status POST "$SANDBOX_URL/admin/tx/accounts" \
        "{\"accountId\":\"$1\",\"transactionIds\":$2}" >/dev/null
}
accounts acc_9101 '["txn_5002"]'
accounts acc_9102 '["txn_5001","txn_5003"]'
accounts acc_9103 '[]'
redis_cmd DEL docsync:lookup:acc_9101 docsync:lookup:acc_9102 docsync:lookup:acc_9103 >/dev/null
stack stop-stage mapper >/dev/null 2>&1 || true
stack start-stage mapper 1 MAPPING_SOURCE=lookup >/dev/null
ok=$(one acc_9101 lookup_ok); amb=$(one acc_9102 lookup_amb); none=$(one acc_9103 lookup_none)
assert_eq "lookup: one match is verified" verified "$(outcome "$ok")"
assert_eq "lookup: ... in the matched transaction" txn_5002 \
    "$(tx_doc_of "$ok" | json_get transactionId)"
assert_eq "lookup: two matches are ambiguous_mapping" ambiguous_mapping "$(outcome "$amb")"
assert_eq "lookup: no match is unmapped_account" unmapped_account "$(outcome "$none")"
assert_eq "lookup: the ambiguous document is not uploaded anywhere" 0 "$(uploads_of "$amb")"
[ "$(redis_cmd TTL docsync:lookup:acc_9101)" -gt 0 ] \
    && t_pass "lookup: the answer is cached in Redis with a TTL" \
    || t_fail "lookup: the answer is cached in Redis with a TTL"
# The cache answers now: the account's transaction changes at the
# destination, the next document still goes where the cache says until
# docsyncctl mapping clear-cache.
accounts acc_9101 '["txn_5003"]'
again=$(one acc_9101 lookup_cached)
assert_eq "lookup: a cached answer is used" txn_5002 \
    "$( [ "$(outcome "$again")" = verified ] && tx_doc_of "$again" | json_get transactionId)"
bin/docsyncctl mapping clear-cache acc_9101 >/dev/null
fresh=$(one acc_9101 lookup_fresh)
assert_eq "lookup: after clear-cache the transaction system is asked again" txn_5003 \
    "$( [ "$(outcome "$fresh")" = verified ] && tx_doc_of "$fresh" | json_get transactionId)"
