# shellcheck shell=bash
# t_40_dlq.sh - documents that cannot be synced end on docsync.dlq, keyed
# by their documentId, with headers an operator can read with kcat (C17),
# without file bytes (C16), and the stage moves on past them (C05). Each is
# counted by reason on the stage's GET /metrics.

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# dlq_line DOC_ID: the DLQ record keyed DOC_ID as an operator prints it.
dlq_line() {
    dlq_records | awk -v k="$1" '$1 == k' | tail -n 1
}

# id_on_partition PREFIX PARTITION: a fresh documentId that the producers'
# default partitioner (CRC32 of the key) puts on PARTITION of a 4-partition
# topic.
id_on_partition() {
    local id
    while :; do
        id=$(uniq_id "$1")
        python3 -c 'import sys, zlib
sys.exit(zlib.crc32(sys.argv[1].encode()) % 4 != int(sys.argv[2]))' "$id" "$2" \
            && { echo "$id"; return; }
    done
}

# check_operator_view NAME DOC_ID: the record's kcat %h print is one
# name=value field per header, each value a simple token; its value and
# kcat -J's payload are JSON objects naming the document.
check_operator_view() {
    local line json hdrs
    line=$(dlq_line "$2")
    json=$(dlq_json "$2" | tail -n 1)
    assert_eq "$1: kcat -f '%k %h %s' starts with the documentId" "$2" "${line%% *}"
    hdrs=$(echo "$line" | cut -d' ' -f2)
    python3 - "$hdrs" "$json" <<'PY' && t_pass "$1: every header prints as name=token in %h" \
        || t_fail "$1: every header prints as name=token in %h" "%h is: $hdrs"
import json, re, sys
printed, rec = sys.argv[1], json.loads(sys.argv[2])
h = rec["headers"]
fields = printed.split(",")
assert len(fields) == len(h) // 2, (len(fields), len(h) // 2)
for f, name, value in zip(fields, h[0::2], h[1::2]):
    assert f == "%s=%s" % (name, value), f
    assert re.fullmatch(r"[A-Za-z0-9._:/-]*", value), value
PY
    python3 - "$json" "$2" <<'PY' \
        && t_pass "$1: kcat -J value is a JSON object of the document" \
        || t_fail "$1: kcat -J value is a JSON object of the document" \
                  "$(echo "$json" | head -c 300)"
import json, sys
rec = json.loads(sys.argv[1])
value = json.loads(rec["payload"])
assert isinstance(value, dict) and value.get("documentId") == sys.argv[2], value
PY
    echo "$line" | cut -d' ' -f3- | python3 -c 'import json, sys
assert isinstance(json.loads(sys.stdin.read()), dict)' 2>/dev/null \
        && t_pass "$1: the %s value in the kcat line parses as JSON" \
        || t_fail "$1: the %s value in the kcat line parses as JSON" "$(echo "$line" | head -c 300)"
}

# dead_count STAGE REASON: docsync_dead_lettered_total of that stage and
# reason on the stage's /metrics; 0 while it has none.
dead_count() {
    stage_metric "$1" "docsync_dead_lettered_total{stage=\"$1\",reason=\"$2\"}" \
        || echo 0
}

# dead_count_is STAGE REASON N: for wait_until.
dead_count_is() { [ "$(dead_count "$1" "$2")" = "$3" ]; }

# check_dead_counted NAME STAGE REASON BEFORE: the count went up by one.
check_dead_counted() {
    local want=$(( $4 + 1 ))
    wait_until 10 dead_count_is "$2" "$3" "$want"
    assert_eq "$1" "$want" "$(dead_count "$2" "$3")"
}

# --- C05: the document is deleted from the CRM before the fetcher runs.
gone=$(uniq_id t40_gone)
gone_before=$(dead_count fetcher source_not_found)
sandbox_add_doc acc_1001 samples/habibi.pdf \
    "{\"documentId\":\"$gone\",\"webhook\":false}" >/dev/null
sandbox_delete_doc "$gone" && t_pass "the sandbox deletes the CRM document" \
    || t_fail "the sandbox deletes the CRM document" "DELETE did not answer 204"
assert_eq "the deleted document's webhook is accepted" 202 \
    "$(post_webhook "$(event_json "$gone" acc_1001)")"
wait_until 30 dlq_has "$gone"
rec=$(dlq_json "$gone" | tail -n 1)
assert_eq "C05: a document gone from the CRM lands once on docsync.dlq" 1 \
    "$(dlq_count "$gone")"
assert_eq "C05: reason is source_not_found" source_not_found \
    "$(record_header "$rec" docsync.reason)"
assert_eq "C05: the stage that gave up is the fetcher" fetcher \
    "$(record_header "$rec" docsync.stage)"
assert_eq "C05: it came from docsync.events" docsync.events \
    "$(record_header "$rec" __connect.errors.topic)"
assert_eq "C05: the error class is permanent" permanent \
    "$(record_header "$rec" __connect.errors.exception.class.name)"
assert_eq "C05: the last HTTP status is 404" 404 "$(record_header "$rec" docsync.http_status)"
attempts=$(record_header "$rec" docsync.attempts)
if [[ $attempts =~ ^[1-3]$ ]]; then
    t_pass "C05: a 404 is not retried as transient (at most a 3-try grace)"
else
    t_fail "C05: a 404 is not retried as transient (at most a 3-try grace)" \
        "docsync.attempts=$attempts"
fi
assert_eq "C05: the dead-lettered document is never marked fetched" 0 \
    "$(redis_cmd HEXISTS "docsync:doc:$gone" fetched_at)"
wait_until 10 doc_state_is "$gone" failed
assert_eq "C05: the dead-lettered document is marked failed in Redis" failed \
    "$(doc_state "$gone")"
assert_eq "C05: its timeline says who gave up and why" 1 \
    "$(redis_cmd LRANGE "docsync:timeline:$gone" 0 -1 |
       grep -c ':fetcher:failed:source_not_found$')"
check_operator_view "C17: source_not_found record" "$gone"
check_dead_counted "C05: the fetcher's /metrics counts it apart, as source_not_found" \
    fetcher source_not_found "$gone_before"

# The fetcher committed past the dead-lettered record, and the partition it
# sat on still flows.
part=$(record_header "$rec" __connect.errors.partition)
off=$(record_header "$rec" __connect.errors.offset)
offset_past() { local c; c=$(committed_offset docsync-fetcher docsync.events "$part")
                [[ $c =~ ^[0-9]+$ ]] && [ "$c" -gt "$off" ]; }
wait_until 20 offset_past && t_pass "C05: the fetcher's committed offset moved past the record" \
    || t_fail "C05: the fetcher's committed offset moved past the record" \
        "partition $part offset $off, committed $(committed_offset docsync-fetcher \
            docsync.events "$part")"
later=$(id_on_partition t40_later "${part:-0}")
sandbox_add_doc acc_1001 samples/minimal-document.pdf "{\"documentId\":\"$later\"}" >/dev/null
assert_eq "a later document goes to the same partition of docsync.events" "$part" \
    "$(topic_records docsync.events '%k %p\n' | awk -v k="$later" '$1 == k { print $2 }')"
wait_until 30 doc_state_is "$later" verified
assert_eq "C05: a later document on the same partition ends verified" verified \
    "$(doc_state "$later")"

# --- An account the mapping table does not know: the mapper gives up.
unmapped=$(uniq_id t40_unmapped)
unmapped_before=$(dead_count mapper unmapped_account)
sandbox_add_doc acc_9999 samples/image.jpg "{\"documentId\":\"$unmapped\"}" >/dev/null
wait_until 30 dlq_has "$unmapped"
rec=$(dlq_json "$unmapped" | tail -n 1)
assert_eq "an unmapped account lands once on docsync.dlq" 1 "$(dlq_count "$unmapped")"
assert_eq "unmapped account: reason is unmapped_account" unmapped_account \
    "$(record_header "$rec" docsync.reason)"
assert_eq "unmapped account: the stage is the mapper" mapper \
    "$(record_header "$rec" docsync.stage)"
assert_eq "unmapped account: it came from docsync.fetched" docsync.fetched \
    "$(record_header "$rec" __connect.errors.topic)"
assert_eq "unmapped account: nothing is uploaded" 0 "$(uploads_of "$unmapped")"
wait_until 10 doc_state_is "$unmapped" failed
assert_eq "unmapped account: the document is marked failed" failed \
    "$(doc_state "$unmapped")"
check_operator_view "C17: unmapped_account record" "$unmapped"
check_dead_counted "unmapped account: the mapper's /metrics counts it as unmapped_account" \
    mapper unmapped_account "$unmapped_before"
sha=$(sha256sum < "$E2E_ROOT/samples/image.jpg" | cut -d' ' -f1)
if [ -f "$BLOB_DIR/${sha:0:2}/${sha:2:2}/$sha" ]; then
    t_pass "a dead-lettered document keeps its blob"
else
    t_fail "a dead-lettered document keeps its blob" "no $BLOB_DIR/${sha:0:2}/${sha:2:2}/$sha"
fi

# --- C16: a 2 MiB document's failure still lands, without its bytes.
big=$(uniq_id t40_big)
head -c $((2 * 1024 * 1024)) /dev/urandom > "$tmp/big.pdf"
sandbox_add_doc acc_9998 "$tmp/big.pdf" "{\"documentId\":\"$big\"}" >/dev/null
wait_until 30 dlq_has "$big"
assert_eq "C16: a 2 MiB document's failure lands on docsync.dlq" 1 "$(dlq_count "$big")"
size=$(dlq_json "$big" | tail -n 1 | python3 -c 'import json, sys
print(len(json.loads(sys.stdin.read())["payload"].encode()))' 2>/dev/null)
if [[ $size =~ ^[0-9]+$ ]] && [ "$size" -lt 4096 ]; then
    t_pass "C16: the DLQ record of a 2 MiB document is small (no file bytes)"
else
    t_fail "C16: the DLQ record of a 2 MiB document is small (no file bytes)" \
        "value is ${size:-?} bytes"
fi
