# shellcheck shell=bash
# t_10_samples.sh - every sample document goes the whole way: added to the
# CRM through the sandbox's admin API (which fires the signed webhook), it
# ends verified in Redis, uploaded exactly once, and the transaction
# system's copy has the sample's md5 and size, on the transaction its
# account maps to. Every stage counts them on its own GET /metrics (the
# METRICS_PORT scripts/stack.sh gave it): ingest as accepted webhooks, the
# four consumer stages as records finished ok and handler calls, none
# dead-lettered.

CONSUMERS=(fetcher mapper uploader verifier)

# The series each check reads, by stage.
ok_series()      { echo "docsync_records_total{stage=\"$1\",result=\"ok\"}"; }
dead_series()    { echo "docsync_records_total{stage=\"$1\",result=\"dead_lettered\"}"; }
handled_series() { echo "docsync_handle_seconds_count{stage=\"$1\"}"; }
ACCEPTED='docsync_ingest_webhooks_total{result="accepted"}'

# What the pages show before the samples go in (nothing when no page
# answers, which the checks below then report).
declare -A ok_before dead_before handled_before
for s in "${CONSUMERS[@]}"; do
    ok_before[$s]=$(stage_metric "$s" "$(ok_series "$s")") || ok_before[$s]=
    dead_before[$s]=$(stage_metric "$s" "$(dead_series "$s")") || dead_before[$s]=
    handled_before[$s]=$(stage_metric "$s" "$(handled_series "$s")") || handled_before[$s]=
done
accepted_before=$(stage_metric ingest "$ACCEPTED") || accepted_before=

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

# ------------------------------------------------------------- metrics

n=${#files[@]}

# counted_at_least STAGE SERIES MIN: the stage's pages show SERIES >= MIN.
counted_at_least() {
    local v
    v=$(stage_metric "$1" "$2") && [ "$v" -ge "$3" ]
}

# check_counted STAGE SERIES BEFORE WHAT: SERIES went up by at least n from
# BEFORE (waiting a moment: a stage counts a record just after its work).
check_counted() {
    local want got
    if [ -z "$3" ]; then
        t_fail "$1: /metrics counts $4" \
            "no value of $2 before the samples (pages: $(metrics_urls "$1" | paste -sd' '))"
        return
    fi
    want=$(( $3 + n ))
    if wait_until 15 counted_at_least "$1" "$2" "$want"; then
        t_pass "$1: /metrics counts $4"
    else
        got=$(stage_metric "$1" "$2") || got="(no such series)"
        t_fail "$1: /metrics counts $4" "$2 expected at least $want, got $got"
    fi
}

for s in "${CONSUMERS[@]}"; do
    check_counted "$s" "$(ok_series "$s")" "${ok_before[$s]}" \
        "the $n samples as records finished ok"
    check_counted "$s" "$(handled_series "$s")" "${handled_before[$s]}" \
        "a handler call for each of the $n samples"
    assert_eq "$s: /metrics counts none of the samples dead-lettered" \
        "${dead_before[$s]:-(none before)}" \
        "$(stage_metric "$s" "$(dead_series "$s")" || echo "(no such series)")"
done

assert_eq "ingest: its METRICS_PORT page counts the $n webhooks accepted" \
    "$(( ${accepted_before:-0} + n ))" \
    "$(stage_metric ingest "$ACCEPTED" || echo "(no such series)")"
assert_eq "ingest: its own port serves the same count" \
    "$(stage_metric ingest "$ACCEPTED" || echo "(no such series)")" \
    "$(ingest_metric accepted)"
