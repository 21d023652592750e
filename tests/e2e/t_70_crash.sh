# shellcheck shell=bash
# t_70_crash.sh - C13, C19: an uploader killed (SIGKILL) in the middle of an
# upload loses nothing. Its offset was not stored, so the restarted uploader
# gets the record again; the dead process's lease expires, and the document
# ends verified.
#
# Two crashes, because the destination can end in two states:
#  A. the slow upload fails at the destination (a 503 after the delay), so
#     nothing was stored: the document must be uploaded exactly once;
#  B. the slow upload succeeds at the destination after the client died (the
#     sandbox, like a real server that has the whole body, finishes a
#     delayed request whatever became of its client): the uploader never
#     saw the 201 and uploads again after the restart. The destination
#     honours the Idempotency-Key the uploader sends, so that retry must be
#     answered from the key (a replay) and the document stored exactly once.
#     (docs/limits.md: a destination that ignores the key would get two.)
#
# Each restart waits for Kafka to give the dead consumer's partitions away
# (its session timeout, 10 s, and a rebalance), so this file takes about a
# minute.
#
# C. (C19) a lease a dead uploader left behind must not get the document
#    dead-lettered: the uploader that finds it held waits until it runs
#    out (UPLOAD_LEASE_MS, 15 s, renewed only by a live uploader) and then
#    uploads. C plants such a stale lease of 15 s, longer than the stack's
#    retry backoff, and the document must still be synced once.

UPLOADER_LOG=$E2E_ROOT/.run/logs/uploader.log
SANDBOX_LOG=$E2E_ROOT/.run/logs/sandbox.log
SLOW_MS=5000

# Whatever happens below, the stack gets its uploader back.
restore_uploader() { stack start-stage uploader >/dev/null 2>&1 || true; }
trap restore_uploader EXIT
trap 'restore_uploader; exit 1' TERM INT

# uploader_pid: the running uploader's pid, empty when none runs.
uploader_pid() {
    stack status 2>/dev/null | awk '$1 == "uploader" && $2 == "running" { print $4 }'
}

# lease_held DOC_ID: an uploader has claimed DOC_ID's upload.
lease_held() { [ "$(redis_cmd EXISTS "docsync:lease:upload:$1")" = 1 ]; }

# crash_mid_upload NAME DOC_ID SAMPLE ACCOUNT FAULT_JSON: arms the slow
# upload, adds the document, and SIGKILLs the uploader while the upload is
# held in the sandbox; then starts a new uploader. Prints nothing.
crash_mid_upload() {
    local name=$1 id=$2 old new
    sandbox_fault "$5" || t_fail "$name: the sandbox arms the slow upload" "fault refused"
    sandbox_add_doc "$4" "$3" "{\"documentId\":\"$id\"}" >/dev/null
    if wait_until 30 lease_held "$id"; then
        t_pass "$name: the uploader has claimed the document (its lease is in Redis)"
    else
        t_fail "$name: the uploader has claimed the document (its lease is in Redis)" \
            "state $(doc_state "$id"), no lease"
    fi
    sleep 1   # the POST is in the sandbox now, held by the fault's delay
    old=$(uploader_pid)
    stack kill-stage uploader >/dev/null
    if [ -n "$old" ] && ! kill -0 "$old" 2>/dev/null; then
        t_pass "$name: the uploader is killed mid-upload"
    else
        t_fail "$name: the uploader is killed mid-upload" "pid '${old}' still alive or unknown"
    fi
    assert_eq "$name: the killed uploader had not marked the document uploaded" mapped \
        "$(doc_state "$id")"
    stack start-stage uploader >/dev/null
    new=$(uploader_pid)
    [ -n "$new" ] && [ "$new" != "$old" ] && t_pass "$name: a new uploader runs" \
        || t_fail "$name: a new uploader runs" "pid '${new}'"
}

# faulted_posts TXN OFFSET STATUS: sandbox lines of faulted uploads to TXN
# answered STATUS after OFFSET.
faulted_posts() {
    log_since "$SANDBOX_LOG" "$2" | grep -F "\"path\":\"/v1/transactions/$1/documents\"" \
        | grep '"fault":true' | grep -c "\"status\":$3," || true
}

# --- A: killed while the destination is slowly failing the upload.
a=$(uniq_id t70_fail)
sample_a=$E2E_ROOT/samples/google-doc-document.pdf
sb_at=$(log_size "$SANDBOX_LOG")
up_at=$(log_size "$UPLOADER_LOG")
crash_mid_upload "C13 A" "$a" "$sample_a" acc_1001 \
    "{\"route\":\"tx_upload\",\"count\":1,\"delayMs\":$SLOW_MS,\"status\":503}"
wait_until 100 doc_state_is "$a" verified
assert_eq "C13 A: the killed uploader's slow upload was answered 503 by the sandbox" 1 \
    "$(faulted_posts "$(mapped_transaction acc_1001)" "$sb_at" 503)"
assert_eq "C13 A: after the crash and restart the document ends verified" verified \
    "$(doc_state "$a")"
assert_eq "C13 A: the restarted uploader processed the record again (SUCCESS logged)" 1 \
    "$(log_since "$UPLOADER_LOG" "$up_at" | grep -F "\"documentId\":\"$a\"" \
        | grep -c '"status":"SUCCESS"' || true)"
assert_eq "C13 A: it is uploaded exactly once" 1 "$(uploads_of "$a")"
assert_eq "C19 A: it never went to the DLQ" 0 "$(dlq_count "$a")"
copy=$(tx_doc_of "$a") || copy='{}'
assert_eq "C13 A: the copy's md5Checksum is the file's" \
    "$(md5sum < "$sample_a" | cut -d' ' -f1)" "$(echo "$copy" | json_get md5Checksum)"

# --- B: killed while the destination is slowly accepting the upload.
b=$(uniq_id t70_ambiguous)
sample_b=$E2E_ROOT/samples/multicolumn.pdf
txn_b=$(mapped_transaction acc_1002)
sb_at=$(log_size "$SANDBOX_LOG")
crash_mid_upload "C13 B" "$b" "$sample_b" acc_1002 \
    "{\"route\":\"tx_upload\",\"count\":1,\"delayMs\":$SLOW_MS}"
wait_until 100 doc_state_is "$b" verified
assert_eq "C13 B: after the crash and restart the document ends verified" verified \
    "$(doc_state "$b")"
assert_eq "C19 B: it never went to the DLQ" 0 "$(dlq_count "$b")"
recorded=$(redis_cmd HGET "docsync:doc:$b" destinationDocumentId)
copy=$(tx_documents | python3 -c '
import json, sys
for d in json.load(sys.stdin)["documents"]:
    if d["id"] == sys.argv[1]:
        print(json.dumps(d))
' "$recorded")
assert_eq "C13 B: the verified copy (the recorded destination id) is intact" \
    "$(md5sum < "$sample_b" | cut -d' ' -f1)" "$(echo "${copy:-{\}}" | json_get md5Checksum)"
late=$(faulted_posts "$txn_b" "$sb_at" 201)
echo "note  C13 B: the killed uploader's delayed POST was completed by the sandbox" \
     "after the client died: $late time(s) (201, fault delay ${SLOW_MS} ms)"
echo "note  C13 B: destination copies: $(tx_documents | python3 -c '
import json, sys
t = json.load(sys.stdin)
docs = ["%s (%s)" % (d["id"], d["createdAt"]) for d in t["documents"]
        if d["sourceDocumentId"] == sys.argv[1]]
print("%s; idempotent replays: %s" % (", ".join(docs) or "none",
      (t.get("replaysBySource") or {}).get(sys.argv[1], 0)))' "$b"); recorded: $recorded"
assert_eq "C13 B: the upload the sandbox finished after the kill is not repeated (one copy)" \
    1 "$(uploads_of "$b")"

# --- C: a stale lease of a dead uploader that outlives the retry window.
c=$(uniq_id t70_stale)
stale_ms=15000
redis_cmd SET "docsync:lease:upload:$c" "deadhost:999999:0" PX "$stale_ms" >/dev/null
up_at=$(log_size "$UPLOADER_LOG")
sandbox_add_doc acc_1003 samples/habibi.pdf "{\"documentId\":\"$c\"}" >/dev/null
settled() { doc_state_is "$c" verified || dlq_has "$c"; }
wait_until $(( stale_ms / 1000 + 45 )) settled
assert_eq "C19 C: a document behind a dead uploader's ${stale_ms} ms lease ends verified" \
    verified "$(doc_state "$c")"
dlq=$(dlq_json "$c" | tail -n 1)
assert_eq "C19 C: it is not dead-lettered while the stale lease runs out" "" \
    "$( [ -n "$dlq" ] && echo "reason=$(record_header "$dlq" docsync.reason)" \
        "attempts=$(record_header "$dlq" docsync.attempts)")"
assert_eq "C19 C: it is uploaded exactly once" 1 "$(uploads_of "$c")"
echo "note  C19 C: uploader lines: $(log_since "$UPLOADER_LOG" "$up_at" \
    | grep -F "\"documentId\":\"$c\"" \
    | sed 's/.*"status":"\([A-Z]*\)".*"attempt":\([0-9]*\).*/\1#\2/' | paste -sd' ')"
