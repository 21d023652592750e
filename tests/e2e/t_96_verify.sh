# shellcheck shell=bash
# t_96_verify.sh - the verifier's tiers and its patience. A document is
# verified under each tier the connector names (strong with the checksum of
# a field or of the ETag, medium, weak), and the tier is in the verified
# record and the log; an opaque ETag makes it fall back to medium. A
# destination that answers "processing" for 3 s has the document verified
# once it is stored; one that stores other bytes has it dead-lettered as
# checksum_mismatch under strong.

dir=$(mktemp -d)
chaos() {
    [ "$(http_status POST "$SANDBOX_URL/admin/chaos" "$1")" = 200 ] \
        || t_fail "the sandbox takes the chaos settings $1" "POST /admin/chaos failed"
}
restore() {
    chaos '{}'
    sandbox_config '{"tx": null}' || true
    default_stages verifier
    rm -rf "$dir"
}
trap restore EXIT

# verified_tier ID: verificationTier of ID's record on docsync.verified.
verified_tier() {
    topic_records docsync.verified | grep "^$1 " | tail -n 1 | cut -d' ' -f2- |
        json_get verificationTier
}

# has_verified_record ID: ID has a record on docsync.verified.
has_verified_record() { [ -n "$(verified_tier "$1" 2>/dev/null)" ]; }

# verifier_log: the verifier's log lines so far.
verifier_log() { cat "$E2E_ROOT"/.run/logs/verifier*.log 2>/dev/null; }

# synced_as NAME ACCOUNT TIER: a new document (its id in SYNCED) is
# verified with TIER, which its record and its log line name.
synced_as() {
    local id
    id=$(uniq_id "t96_$1")
    SYNCED=$id
    sandbox_add_doc "$2" samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
    if wait_until 60 doc_state_is "$id" verified; then
        t_pass "$1: the document is verified"
    else
        t_fail "$1: the document is verified" "state is $(doc_state "$id")"
        return
    fi
    # Redis says verified when the record is on its way to docsync.verified:
    # give the broker a moment to have it.
    wait_until 15 has_verified_record "$id" || true
    assert_eq "$1: the verified record says tier $3" "$3" "$(verified_tier "$id")"
    assert_eq "$1: the verifier's log line says tier $3" 1 \
        "$(verifier_log | grep "\"documentId\":\"$id\"" |
           grep -c "\"status\":\"VERIFIED\",\"tier\":\"$3\"" || true)"
}

# --- Strong: the checksum of a field (the stack's own connector).
synced_as strong acc_1001 strong

# --- Strong from the ETag, which the sandbox sends as the quoted md5.
connector_variant connectors/sandbox-apikey.json "$dir/etag.json" '
d = c["destination"]["document"]
d["checksum"] = {"header": "ETag", "algorithm": "md5"}
d["verification"] = "strong"'
with_connector "$dir/etag.json" verifier
synced_as etag acc_1002 strong

# --- An opaque ETag is no checksum: medium, and the log says why.
sandbox_config '{"tx": {"etag": "opaque"}}'
synced_as opaque_etag acc_1003 medium
assert_eq "the fallback to medium is logged" 1 \
    "$(verifier_log | grep -F "document $SYNCED: the ETag" | grep -c "not a md5 digest" || true)"
sandbox_config '{"tx": null}'

# --- Medium: a destination that gives no checksum.
connector_variant connectors/sandbox-apikey.json "$dir/medium.json" \
    'del c["destination"]["document"]["checksum"]'
with_connector "$dir/medium.json" verifier
synced_as medium acc_1001 medium

# --- Weak: the document exists with that name.
connector_variant connectors/sandbox-apikey.json "$dir/weak.json" \
    'c["destination"]["document"]["verification"] = "weak"'
with_connector "$dir/weak.json" verifier
synced_as weak acc_1002 weak

# --- A tier the connector cannot serve stops the verifier at start.
connector_variant connectors/sandbox-apikey.json "$dir/bad.json" '
d = c["destination"]["document"]
del d["checksum"]
d["verification"] = "strong"'
out=$(CONNECTOR_FILE=$dir/bad.json timeout 20 bin/docsync-verifier 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
   echo "$out" | grep -qF destination.document.checksum; then
    t_pass "strong without a checksum is refused at start, naming the field"
else
    t_fail "strong without a checksum is refused at start, naming the field" \
           "exit $rc: $(echo "$out" | tail -n 2)"
fi

# --- A destination that stores the copy 3 s after it accepted it.
connector_variant connectors/sandbox-apikey.json "$dir/processing.json" '
d = c["destination"]["document"]
d["status"] = "status"
d["processingValues"] = ["processing", "pending"]
d["processingMaxMs"] = 60000'
with_connector "$dir/processing.json" verifier
sandbox_config '{"tx": {"processingMs": 3000}}'
id=$(uniq_id t96_processing)
start=$(now_ms)
sandbox_add_doc acc_1003 samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
if wait_until 60 doc_state_is "$id" verified; then
    t_pass "a document in processing is verified once stored"
else
    t_fail "a document in processing is verified once stored" "state is $(doc_state "$id")"
fi
took=$(( $(now_ms) - start ))
[ "$took" -ge 3000 ] && t_pass "not before the destination stored it (${took} ms)" \
    || t_fail "not before the destination stored it" "verified after ${took} ms"
assert_eq "it was asked for again while processing" yes \
    "$(verifier_log | grep "\"documentId\":\"$id\"" |
       grep -q '"error":"destination_processing"' && echo yes)"
assert_eq "the waits spent no attempt" 0 \
    "$(verifier_log | grep "\"documentId\":\"$id\"" | grep '"status":"RETRY"' |
       grep -vc '"attempt":1,' || true)"
assert_eq "it is uploaded once" 1 "$(uploads_of "$id")"
sandbox_config '{"tx": null}'

# --- A destination that stores other bytes: checksum_mismatch under strong.
default_stages verifier
chaos '{"txCorruptRate": 1.0, "seed": 3}'
id=$(uniq_id t96_corrupt)
sandbox_add_doc acc_1001 samples/libreoffice-form.pdf "{\"documentId\":\"$id\"}" >/dev/null
wait_until 60 dlq_has "$id"
assert_eq "corrupted bytes are dead-lettered as checksum_mismatch" checksum_mismatch \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "the document is marked failed, never verified" failed "$(doc_state "$id")"
chaos '{}'
