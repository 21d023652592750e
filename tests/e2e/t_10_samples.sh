# shellcheck shell=bash
# t_10_samples.sh - every sample document goes the whole way: added to the
# CRM through the sandbox's admin API (which fires the signed webhook), it
# ends verified in Redis, uploaded exactly once, and the transaction
# system's copy has the sample's md5 and size, on the transaction its
# account maps to.

accounts=(acc_1001 acc_1002 acc_1003)
ids=() files=()
i=0
for f in "$E2E_ROOT"/samples/*; do
    name=$(basename "$f")
    [ "$name" = README.md ] && continue
    acc=${accounts[$((i % 3))]}
    id=$(uniq_id "t10_$i")
    if out=$(sandbox_add_doc "$acc" "$f" "{\"documentId\":\"$id\"}"); then
        assert_eq "$name: its webhook is accepted (202)" '[202]' \
            "$(echo "$out" | json_get webhookStatuses | tr -d ' ')"
    else
        t_fail "$name: the sandbox takes the document" "$out"
    fi
    ids+=("$id:$acc")
    files+=("$f")
    i=$((i + 1))
done
[ "${#files[@]}" -ge 12 ] && t_pass "samples/ holds the 12 sample documents" \
    || t_fail "samples/ holds the 12 sample documents" "found ${#files[@]}"

# All were sent at once; give the pipeline one deadline for all of them.
all_verified() {
    local e
    for e in "${ids[@]}"; do
        doc_state_is "${e%%:*}" verified || return 1
    done
}
wait_until 60 all_verified

for n in "${!files[@]}"; do
    f=${files[$n]} name=$(basename "${files[$n]}")
    id=${ids[$n]%%:*} acc=${ids[$n]#*:}
    assert_eq "$name ends verified in Redis" verified "$(doc_state "$id")"
    assert_eq "$name is uploaded exactly once" 1 "$(uploads_of "$id")"
    copy=$(tx_doc_of "$id") || copy='{}'
    assert_eq "$name: the copy's md5Checksum is md5sum of the sample" \
        "$(md5sum < "$f" | cut -d' ' -f1)" "$(echo "$copy" | json_get md5Checksum)"
    assert_eq "$name: the copy's size is the sample's byte size" \
        "$(stat -c %s "$f")" "$(echo "$copy" | json_get size)"
    assert_eq "$name: the copy is on the transaction $acc maps to" \
        "$(mapped_transaction "$acc")" "$(echo "$copy" | json_get transactionId)"
    assert_eq "$name: the copy keeps the file name" \
        "$name" "$(echo "$copy" | json_get fileName)"
done
