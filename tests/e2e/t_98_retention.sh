# shellcheck shell=bash
# t_98_retention.sh - the blob of a dead-lettered document is kept until
# the document is replayed or BLOB_RETENTION_S has passed, then removed by
# the verifier's sweep: with BLOB_RETENTION_S=3 and BLOB_SWEEP_INTERVAL_S=1
# an unmapped document's blob is on disk at first and gone seconds later,
# its state says blob_expired; a document replayed before its deadline
# keeps its blob past it and is verified; one that fails again gets a fresh
# deadline. docsyncctl lists the kept blobs, shows them on DLQ records and
# sweeps by hand.

ctl() { "$E2E_ROOT/bin/docsyncctl" "$@"; }
tmp=$(mktemp -d)
# The other test files expect the stack's own verifier and uploader.
trap 'default_stages verifier uploader; rm -rf "$tmp"' EXIT

# blob_file SHA: where the disk store keeps a blob.
blob_file() { echo "$BLOB_DIR/${1:0:2}/${1:2:2}/$1"; }
blob_on_disk() { [ -f "$(blob_file "$1")" ]; }
blob_gone() { [ ! -e "$(blob_file "$1")" ]; }

# own_file NAME: a file of random bytes no other document has, so that its
# blob is held by one document only; prints its path.
own_file() {
    head -c 6000 /dev/urandom > "$tmp/$1.pdf"
    echo "$tmp/$1.pdf"
}

sha_of() { sha256sum < "$1" | cut -d' ' -f1; }

# kept_since DOC SHA: the dead-letter time (epoch ms) the hold is kept
# since, empty when it is not kept.
kept_since() { redis_cmd ZSCORE docsync:blobkeep "$2:$1"; }

# dlq_count_at_least DOC N, kept_now DOC SHA, ms_since T MS: for wait_until.
dlq_count_at_least() { [ "$(dlq_count "$1")" -ge "$2" ]; }
kept_now() { [ -n "$(kept_since "$1" "$2")" ]; }
ms_since() { [ $(( $(now_ms) - $1 )) -ge "$2" ]; }

# dead_letter ACCOUNT FILE: adds the file for ACCOUNT and waits until its
# document is marked failed; prints the documentId.
dead_letter() {
    local id
    id=$(uniq_id "t98_$1")
    sandbox_add_doc "$1" "$2" "{\"documentId\":\"$id\"}" >/dev/null
    wait_until 30 doc_state_is "$id" failed
    echo "$id"
}

# --- While no verifier runs, nothing is swept: set up the documents.
stack stop-stage verifier >/dev/null 2>&1 || true

a_file=$(own_file a)
a_sha=$(sha_of "$a_file")
a=$(dead_letter acc_9999 "$a_file")
assert_eq "an unmapped document is dead-lettered" failed "$(doc_state "$a")"
blob_on_disk "$a_sha" && t_pass "its blob is on disk at first" \
    || t_fail "its blob is on disk at first" "no $(blob_file "$a_sha")"
a_since=$(kept_since "$a" "$a_sha")
[[ $a_since =~ ^[0-9]+$ ]] && t_pass "its hold is kept with the dead letter's time" \
    || t_fail "its hold is kept with the dead letter's time" "ZSCORE gave '$a_since'"

# B fails at the uploader (a 422), C at the mapper.
b_file=$(own_file b)
b_sha=$(sha_of "$b_file")
sandbox_fault '{"route":"tx_upload","count":1,"status":422}'
b=$(dead_letter acc_1001 "$b_file")
assert_eq "a refused upload is dead-lettered by the uploader" uploader \
    "$(dlq_header "$b" docsync.stage)"
b_since=$(kept_since "$b" "$b_sha")
[ -n "$b_since" ] && t_pass "the uploader's dead letter keeps the blob too" \
    || t_fail "the uploader's dead letter keeps the blob too" "no entry for $b"
c_file=$(own_file c)
c_sha=$(sha_of "$c_file")
c=$(dead_letter acc_9999 "$c_file")
c_since=$(kept_since "$c" "$c_sha")

BLOB_RETENTION_S=3 ctl blobs list --json > "$tmp/list" 2> "$tmp/list.err"
python3 - "$tmp/list" "$a" "$a_sha" <<'PY' \
    && t_pass "blobs list --json: the kept blob with its deadline" \
    || t_fail "blobs list --json: the kept blob with its deadline" "$(head -c 400 "$tmp/list")"
import datetime, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mine = [r for r in rows if r["documentId"] == sys.argv[2]]
assert len(mine) == 1, rows
r = mine[0]
assert r["sha256"] == sys.argv[3], r
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
assert (t(r["keptUntil"]) - t(r["deadLetteredAt"])).total_seconds() == 3, r
PY
grep -q "BLOB_RETENTION_S=3" "$tmp/list.err" \
    && t_pass "blobs list says the retention on stderr" \
    || t_fail "blobs list says the retention on stderr" "$(cat "$tmp/list.err")"
ctl dlq show --document "$a" 2>/dev/null | grep -q "^blob: *$a_sha kept until " \
    && t_pass "dlq show: the record's blob is kept until its deadline" \
    || t_fail "dlq show: the record's blob is kept until its deadline" \
        "$(ctl dlq show --document "$a" 2>&1 | head -n 5)"

# B is replayed to the uploader, which is stopped so that B stays in
# flight past its old deadline.
stack stop-stage uploader >/dev/null 2>&1 || true
out=$(ctl dlq replay --document "$b" 2>&1)
assert_eq "docsyncctl replays B to docsync.mapped" 1 \
    "$(echo "$out" | grep -c "^replayed .* $b to docsync.mapped$" || true)"
assert_eq "the replay takes B's hold off the sweep" "" "$(kept_since "$b" "$b_sha")"
assert_eq "dlq list --json: B's blob is held, with no deadline" held \
    "$(ctl dlq list --document "$b" --json 2>/dev/null | tail -n 1 | json_get blob.state)"

# C is replayed to the mapper, which fails it again: a fresh deadline.
ctl dlq replay --document "$c" >/dev/null 2>&1
wait_until 30 dlq_count_at_least "$c" 2
wait_until 10 kept_now "$c" "$c_sha"
c_again=$(kept_since "$c" "$c_sha")
[[ $c_again =~ ^[0-9]+$ ]] && [ "$c_again" -gt "$c_since" ] \
    && t_pass "a replayed document that fails again gets a fresh deadline" \
    || t_fail "a replayed document that fails again gets a fresh deadline" \
        "kept since $c_since, then '$c_again'"

# --- The verifier sweeps every second, with a 3 s retention.
log=$DOCSYNC_RUN_DIR/logs/verifier.log
off=$(log_size "$log")
removed_before=$(stage_metric verifier 'docsync_blobs_expired_total{result="removed"}' \
    || echo 0)
stack start-stage verifier 1 BLOB_RETENTION_S=3 BLOB_SWEEP_INTERVAL_S=1 >/dev/null \
    || t_fail "the verifier starts with BLOB_RETENTION_S=3" "start-stage failed"
wait_until 20 blob_gone "$a_sha" && t_pass "A's blob is gone after its retention" \
    || t_fail "A's blob is gone after its retention" "$(blob_file "$a_sha") still there"
assert_eq "A's state says blob_expired, naming the blob" "$a_sha" \
    "$(redis_cmd HGET "docsync:doc:$a" blob_expired)"
assert_eq "A stays failed" failed "$(doc_state "$a")"
assert_eq "A's timeline has the verifier's blob_expired entry" 1 \
    "$(doc_timeline "$a" | grep -c ":verifier:blob_expired:$a_sha$" || true)"
assert_eq "A's hold is no longer kept" "" "$(kept_since "$a" "$a_sha")"
expired_logged() {
    log_since "$log" "$off" | grep "\"documentId\":\"$1\"" | grep -q BLOB_EXPIRED
}
wait_until 5 expired_logged "$a"
assert_eq "the verifier logs one BLOB_EXPIRED line for A" 1 \
    "$(log_since "$log" "$off" | grep "\"documentId\":\"$a\"" | grep -c BLOB_EXPIRED || true)"
removed_now=$(stage_metric verifier 'docsync_blobs_expired_total{result="removed"}' || echo 0)
[ "$removed_now" -gt "$removed_before" ] \
    && t_pass "docsync_blobs_expired_total counts it" \
    || t_fail "docsync_blobs_expired_total counts it" "$removed_before, then $removed_now"
ctl dlq show --document "$a" 2>/dev/null | grep -q "^blob: *$a_sha expired at " \
    && t_pass "dlq show: A's blob expired" \
    || t_fail "dlq show: A's blob expired" "$(ctl dlq show --document "$a" 2>&1 | head -n 5)"

# E, dead-lettered while the verifier sweeps: kept for its 3 s, not less.
e_file=$(own_file e)
e_sha=$(sha_of "$e_file")
e=$(dead_letter acc_9999 "$e_file")
e_since=$(kept_since "$e" "$e_sha")
blob_on_disk "$e_sha" && t_pass "a fresh dead letter's blob is on disk" \
    || t_fail "a fresh dead letter's blob is on disk" "no $(blob_file "$e_sha")"
wait_until 10 ms_since "$e_since" 2000
blob_on_disk "$e_sha" && t_pass "and still there 2 s later, sweeps meanwhile" \
    || t_fail "and still there 2 s later, sweeps meanwhile" "gone before its 3 s"
wait_until 15 blob_gone "$e_sha"
gone_at=$(now_ms)
blob_gone "$e_sha" && [ $(( gone_at - e_since )) -ge 3000 ] \
    && t_pass "then gone, 3 s or more after the dead letter" \
    || t_fail "then gone, 3 s or more after the dead letter" \
        "$(( gone_at - e_since )) ms after, on disk: $(blob_on_disk "$e_sha" && echo yes)"

# B's old deadline is long past, with sweeps every second: still kept.
wait_until 15 ms_since "$b_since" 5000
blob_on_disk "$b_sha" && t_pass "the replayed B keeps its blob past its old deadline" \
    || t_fail "the replayed B keeps its blob past its old deadline" "$(blob_file "$b_sha") gone"
assert_eq "B has no blob_expired" "" "$(redis_cmd HGET "docsync:doc:$b" blob_expired)"
stack start-stage uploader 1 >/dev/null
wait_until 30 doc_state_is "$b" verified
assert_eq "the replayed B is verified" verified "$(doc_state "$b")"
wait_until 10 blob_gone "$b_sha" && t_pass "B's blob goes once B is verified" \
    || t_fail "B's blob goes once B is verified" "$(blob_file "$b_sha") still there"

wait_until 20 blob_gone "$c_sha" && t_pass "C's blob goes after its fresh deadline" \
    || t_fail "C's blob goes after its fresh deadline" "$(blob_file "$c_sha") still there"

# --- docsyncctl blobs sweep does the same by hand, with no verifier.
stack stop-stage verifier >/dev/null 2>&1 || true
d_file=$(own_file d)
d_sha=$(sha_of "$d_file")
d=$(dead_letter acc_9999 "$d_file")
out=$(BLOB_RETENTION_S=600 ctl blobs sweep 2>&1)
blob_on_disk "$d_sha" && t_pass "blobs sweep leaves a blob whose time is not up" \
    || t_fail "blobs sweep leaves a blob whose time is not up" "$out"
sleep 1.2
# Where the store is not mounted the sweep refuses, and the hold stays.
out=$(BLOB_RETENTION_S=1 BLOB_DIR=/nonexistent/blobs ctl blobs sweep 2>&1) && rc=0 || rc=$?
[ "$rc" -ne 0 ] && echo "$out" | grep -q "no such directory" \
    && t_pass "blobs sweep refuses a blob store that is not there" \
    || t_fail "blobs sweep refuses a blob store that is not there" "exit $rc: $out"
[ "$(redis_cmd ZSCORE docsync:blobkeep "$d_sha:$d")" != "" ] \
    && t_pass "and D's blob is still kept" || t_fail "and D's blob is still kept" "no blobkeep entry"
out=$(BLOB_RETENTION_S=1 ctl blobs sweep 2>&1)
echo "$out" | grep -q "^expired $d_sha $d .*: blob removed$" \
    && t_pass "blobs sweep removes it once it is due and says so" \
    || t_fail "blobs sweep removes it once it is due and says so" "$out"
blob_gone "$d_sha" && t_pass "D's blob is gone" || t_fail "D's blob is gone" "still there"
assert_eq "D's timeline names docsyncctl" 1 \
    "$(doc_timeline "$d" | grep -c ":docsyncctl:blob_expired:$d_sha$" || true)"
