# shellcheck shell=bash
# t_30_bad_input.sh - ingest checks the signature over the raw bytes (C01),
# rejects what is not a valid event with a 4xx and a JSON reason, produces
# nothing for it, and keeps its log valid UTF-8 JSON (C04).

INGEST_LOG=$E2E_ROOT/.run/logs/ingest.log
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# is_json_error FILE: the response is a JSON object with a string "error".
is_json_error() {
    python3 -c '
import json, sys
body = json.load(open(sys.argv[1], "rb"))
sys.exit(0 if isinstance(body, dict) and isinstance(body.get("error"), str)
         and body["error"] else 1)
' "$1" 2>/dev/null
}

# check_json_error NAME FILE: the response in FILE is a JSON error.
check_json_error() {
    if is_json_error "$2"; then
        t_pass "$1 answers a JSON error"
    else
        t_fail "$1 answers a JSON error" "body: $(head -c 200 "$2")"
    fi
}

# nothing_produced NAME DOC_ID: docsync.events has no record keyed DOC_ID.
nothing_produced() {
    assert_eq "$1 produces nothing on docsync.events" 0 \
        "$(topic_key_count docsync.events "$2")"
}

# --- A wrong signature: 401, JSON error, nothing produced.
id=$(uniq_id t30_badsig)
event_json "$id" acc_1001 > "$tmp/badsig.json"
assert_eq "a bad signature is refused with 401" 401 \
    "$(post_webhook_file "$tmp/badsig.json" "$(printf '0%.0s' {1..64})" "$tmp/r")"
check_json_error "a bad signature" "$tmp/r"
assert_eq "a missing signature is refused with 401" 401 "$(curl -s -o /dev/null \
    -w '%{http_code}' --max-time 10 --data-binary "@$tmp/badsig.json" "$WEBHOOK_URL")"

# --- C01: a pretty-printed event with a trailing newline, signed over its
# own raw bytes, is accepted; signed over the compact re-serialisation of the
# same JSON, it is not.
id=$(uniq_id t30_pretty)
sandbox_add_doc acc_1002 samples/habibi.pdf \
    "{\"documentId\":\"$id\",\"webhook\":false}" >/dev/null
event_json "$id" acc_1002 "evt_$id" 2026-12-03T12:00:00Z habibi.pdf \
    | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), indent=2))' \
    > "$tmp/pretty.json"
compact_sig=$(webhook_signature "$(python3 -c 'import json, sys
print(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":")), end="")' \
    "$tmp/pretty.json")")
if [ "$(tail -c 1 "$tmp/pretty.json" | od -An -c | tr -d ' ')" = '\n' ] &&
   [ "$(wc -l < "$tmp/pretty.json")" -gt 3 ]; then
    t_pass "C01 body is pretty-printed with a trailing newline"
else
    t_fail "C01 body is pretty-printed with a trailing newline" "$(head -c 100 "$tmp/pretty.json")"
fi
assert_eq "C01: signed over the compact re-serialisation instead of the bytes: 401" \
    401 "$(post_webhook_file "$tmp/pretty.json" "$compact_sig")"
assert_eq "C01: pretty-printed event signed over its raw bytes: 202" \
    202 "$(post_webhook_file "$tmp/pretty.json" "" "$tmp/r")"
assert_eq "C01: the 202 names the document" "$id" "$(json_get documentId < "$tmp/r")"
assert_eq "C01: a sha256= prefixed signature passes too (a duplicate now: 200)" 200 \
    "$(post_webhook_file "$tmp/pretty.json" "sha256=$(webhook_signature_file "$tmp/pretty.json")")"
wait_until 30 doc_state_is "$id" verified
assert_eq "C01: the pretty-printed event's document ends verified" verified \
    "$(doc_state "$id")"

# --- C04: Latin-1 bytes in fileName, correctly signed: 400 with a JSON
# reason, nothing produced, and the log stays valid UTF-8 JSON.
id=$(uniq_id t30_latin1)
log_at=$(log_size "$INGEST_LOG")
{
    printf '{"eventId":"evt_%s","eventType":"DOCUMENT_CREATED",' "$id"
    printf '"documentId":"%s","accountId":"acc_1001",' "$id"
    printf '"fileName":"Angebot_Gr\xF6\xDFe.pdf","timestamp":"2026-12-03T12:00:00Z"}'
} > "$tmp/latin1.json"
status=$(post_webhook_file "$tmp/latin1.json" "" "$tmp/r")
assert_eq "C04: Latin-1 bytes in fileName, correctly signed: 400" 400 "$status"
check_json_error "C04: Latin-1 bytes in fileName" "$tmp/r"
reason=$(json_get detail < "$tmp/r" 2>/dev/null)
case $reason in
    *0xf6*|*UTF-8*|*utf-8*) t_pass "C04: the JSON reason says what is wrong" ;;
    *) t_fail "C04: the JSON reason says what is wrong" "body: $(head -c 200 "$tmp/r")" ;;
esac
nothing_produced "C04: the Latin-1 event" "$id"
sleep 0.2   # the log line is written before the answer; let it reach the file
new_lines=$(log_since "$INGEST_LOG" "$log_at" | grep -c . || true)
if [ "$new_lines" -ge 1 ] && log_since "$INGEST_LOG" "$log_at" | python3 -c '
import json, sys
for raw in sys.stdin.buffer.read().splitlines():
    json.loads(raw.decode("utf-8"))
'; then
    t_pass "C04: the lines ingest logged for it are valid UTF-8 JSON"
else
    t_fail "C04: the lines ingest logged for it are valid UTF-8 JSON" \
        "$(log_since "$INGEST_LOG" "$log_at" | head -c 300)"
fi
# The whole file, as an operator's log shipper reads it.
bad=$(python3 -c '
import json, sys
bad = []
for n, raw in enumerate(open(sys.argv[1], "rb").read().splitlines(), 1):
    try:
        if not isinstance(json.loads(raw.decode("utf-8")), dict):
            raise ValueError("not an object")
    except ValueError:
        bad.append((n, raw))
if bad:
    n, raw = bad[0]
    print("%d of the lines are not; the first, line %d: %r"
          % (len(bad), n, raw[:120]))
' "$INGEST_LOG")
assert_eq "every line of ingest.log is a UTF-8 JSON object" "" "$bad"

# --- Other bodies ingest must refuse, each correctly signed.
id=$(uniq_id t30_malformed)
printf '{"eventId":"evt_%s","eventType":"DOCUMENT_CREATED","documentId":"%s",' \
    "$id" "$id" > "$tmp/malformed.json"
assert_eq "malformed JSON: 400" 400 "$(post_webhook_file "$tmp/malformed.json" "" "$tmp/r")"
check_json_error "malformed JSON" "$tmp/r"
nothing_produced "malformed JSON" "$id"

echo '[1,2,3]' > "$tmp/array.json"
assert_eq "a JSON array instead of an object: 400" 400 \
    "$(post_webhook_file "$tmp/array.json" "" "$tmp/r")"

id=$(uniq_id t30_nodoc)
python3 -c 'import json, sys
print(json.dumps({"eventId": "evt_" + sys.argv[1], "eventType": "DOCUMENT_CREATED",
                  "accountId": "acc_1001", "fileName": "a.pdf",
                  "timestamp": "2026-12-03T12:00:00Z"}))' "$id" > "$tmp/nodoc.json"
assert_eq "missing documentId: 400" 400 "$(post_webhook_file "$tmp/nodoc.json" "" "$tmp/r")"
check_json_error "missing documentId" "$tmp/r"
assert_eq "missing documentId: the reason is missing_field" missing_field \
    "$(json_get error < "$tmp/r")"

id=$(uniq_id t30_badid)
event_json "$id/../x" acc_1001 > "$tmp/badid.json"
assert_eq "a documentId with a slash: 400" 400 "$(post_webhook_file "$tmp/badid.json")"

id=$(uniq_id t30_other)
ignored_before=$(ingest_metric ignored)
python3 -c 'import json, sys
print(json.dumps({"eventId": "evt_" + sys.argv[1], "eventType": "DOCUMENT_DELETED",
                  "documentId": sys.argv[1], "accountId": "acc_1001",
                  "timestamp": "2026-12-03T12:00:00Z"}))' "$id" > "$tmp/other.json"
assert_eq "another eventType: 200" 200 "$(post_webhook_file "$tmp/other.json" "" "$tmp/r")"
assert_eq "another eventType: answered as ignored" ignored "$(json_get status < "$tmp/r")"
assert_eq "another eventType is counted as ignored" $(( ${ignored_before:-0} + 1 )) \
    "$(ingest_metric ignored)"
nothing_produced "another eventType" "$id"

id=$(uniq_id t30_big)
python3 -c 'import json, sys
ev = {"eventId": "evt_" + sys.argv[1], "eventType": "DOCUMENT_CREATED",
      "documentId": sys.argv[1], "accountId": "acc_1001", "fileName": "a.pdf",
      "timestamp": "2026-12-03T12:00:00Z", "padding": "x" * int(sys.argv[2])}
print(json.dumps(ev))' "$id" "$WEBHOOK_MAX_BODY" > "$tmp/big.json"
assert_eq "a body over WEBHOOK_MAX_BODY ($WEBHOOK_MAX_BODY bytes): 413" 413 \
    "$(post_webhook_file "$tmp/big.json" "" "$tmp/r")"
check_json_error "a body over WEBHOOK_MAX_BODY" "$tmp/r"
nothing_produced "a body over WEBHOOK_MAX_BODY" "$id"
# Just under the limit is still a webhook.
id=$(uniq_id t30_fits)
sandbox_add_doc acc_1001 samples/habibi.pdf \
    "{\"documentId\":\"$id\",\"webhook\":false}" >/dev/null
python3 -c 'import json, sys
ev = {"eventId": "evt_" + sys.argv[1], "eventType": "DOCUMENT_CREATED",
      "documentId": sys.argv[1], "accountId": "acc_1001", "fileName": "habibi.pdf",
      "timestamp": "2026-12-03T12:00:00Z", "padding": ""}
base = len(json.dumps(ev, separators=(",", ":")))
ev["padding"] = "x" * (int(sys.argv[2]) - base)
sys.stdout.write(json.dumps(ev, separators=(",", ":")))' "$id" "$WEBHOOK_MAX_BODY" \
    > "$tmp/fits.json"
assert_eq "a body of exactly WEBHOOK_MAX_BODY bytes is accepted (202)" 202 \
    "$(post_webhook_file "$tmp/fits.json")"
