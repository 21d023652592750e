# shellcheck shell=bash
# t_95_modes.sh - documents of every size and shape through the three
# upload modes, end to end.
#   - Each mode with a real sample, and a generated file one byte over the
#     mode's limit, which takes the next mode; a file over every limit is
#     dead-lettered as too_large before any byte is sent; a limit the
#     connector claims and the destination does not keep is its 413.
#   - Names with quotes, a backslash and UTF-8 in several scripts are read
#     back byte for byte in every mode; a 0-byte file in every mode; a name
#     longer than the destination keeps is file_name_too_long.
#   - A chunked upload whose part 2 fails once is verified, that part sent
#     again alone; one whose session expired starts a new session.
#   - With OAuth2 tokens, a 401 after a whole multipart body, and after a
#     whole part, is answered by a fresh token and the body sent again: the
#     copy has all its bytes (C07).

dir=$(mktemp -d)
restore() {
    sandbox_config '{"tx": null, "auth": {"tx": {"mode": "api_key"}},
                     "oauth2": {"accessTokenTtlS": 30}}' || true
    default_stages uploader verifier
    rm -rf "$dir"
}
trap restore EXIT

# gen FILE BYTES: a file of random bytes.
gen() { head -c "$2" /dev/urandom > "$1"; }

# record_of ID TOPIC FIELD: FIELD of ID's last record on TOPIC.
record_of() {
    topic_records "$2" | grep "^$1 " | tail -n 1 | cut -d' ' -f2- | json_get "$3"
}

# sessions FIELD: a field of the sandbox's session listing.
sessions() { curl -sf --max-time 10 "$SANDBOX_URL/admin/tx/sessions" | json_get "$1"; }

# synced NAME ID FILE MODE [FILENAME]: ID, added for FILE (named FILENAME),
# is verified, was uploaded once in MODE, and its copy has FILE's size and
# MD5 and the name byte for byte.
synced() {
    local name=$1 id=$2 file=$3 mode=$4 fname=${5:-$(basename "$3")} extra
    extra=$(python3 -c 'import json, sys; print(json.dumps({"documentId": sys.argv[1],
        "fileName": sys.argv[2]}))' "$id" "$fname")
    sandbox_add_doc acc_1001 "$file" "$extra" >/dev/null
    if ! wait_until 90 doc_state_is "$id" verified; then
        t_fail "$name: verified" "state is $(doc_state "$id"); $(dlq_header "$id" docsync.reason)"
        return
    fi
    t_pass "$name: verified"
    wait_until 15 has_record "$id" docsync.uploaded || true
    assert_eq "$name: uploaded in $mode" "$mode" "$(record_of "$id" docsync.uploaded uploadMode)"
    assert_eq "$name: the destination took it as $mode" "$mode" \
        "$(tx_doc_of "$id" | json_get uploadMode)"
    assert_eq "$name: uploaded once" 1 "$(uploads_of "$id")"
    assert_eq "$name: size" "$(stat -c %s "$file")" "$(tx_doc_of "$id" | json_get size)"
    assert_eq "$name: md5" "$(md5sum "$file" | cut -d' ' -f1)" \
        "$(tx_doc_of "$id" | json_get md5Checksum)"
    assert_eq "$name: the name read back is the same bytes" \
        "$(printf '%s' "$fname" | od -An -tx1 | tr -d ' \n')" \
        "$(tx_doc_of "$id" | json_get fileName | tr -d '\n' | od -An -tx1 | tr -d ' \n')"
}
has_record() { topic_records "$2" | grep -q "^$1 "; }

# --- Limits: json_base64 up to 64 KiB, multipart up to 1 MiB, chunked in
# parts of 256 KiB up to 4 MiB; the sandbox keeps the same ones, but
# multipart's, which it keeps at 1.5 MiB.
sandbox_config '{"tx": {"partBytes": 262144, "limits": {"json": 65536,
                 "multipart": 1572864, "chunked": 4194304}}}'
limits='
m = c["destination"]["upload"]["modes"]
m["json_base64"]["maxBytes"] = 65536
m["multipart"]["maxBytes"] = 1048576
m["chunked"]["maxBytes"] = 4194304
m["chunked"]["partBytes"] = 262144
'
connector_variant connectors/sandbox-apikey.json "$dir/all.json" "$limits"
connector_variant connectors/sandbox-apikey.json "$dir/json-chunked.json" \
    "$limits"'del m["multipart"]'
connector_variant connectors/sandbox-apikey.json "$dir/chunked.json" \
    "$limits"'del m["multipart"], m["json_base64"]'
connector_variant connectors/sandbox-apikey.json "$dir/overclaim.json" \
    "$limits"'m["multipart"]["maxBytes"] = 2097152; del m["chunked"]'

gen "$dir/over-json.bin" 65537
gen "$dir/over-multipart.bin" 1048577
gen "$dir/over-all.bin" 4194305
gen "$dir/between.bin" 1600000
: > "$dir/empty.txt"

with_connector "$dir/all.json" uploader
synced "multipart, a sample" "$(uniq_id t95_mp)" samples/libreoffice-form.pdf multipart
synced "one byte over multipart's limit" "$(uniq_id t95_mp_over)" "$dir/over-multipart.bin" chunked
synced "multipart, 0 bytes" "$(uniq_id t95_mp_empty)" "$dir/empty.txt" multipart
synced "multipart, a name with quotes and scripts" "$(uniq_id t95_mp_name)" \
    samples/habibi.pdf multipart 'Angebot "Größe" \ 契約書 Договор عقد 🏠.pdf'

# A file over every limit: nothing reaches the destination.
puts0=$(sessions partPuts)
id=$(uniq_id t95_over_all)
sandbox_add_doc acc_1001 "$dir/over-all.bin" "{\"documentId\":\"$id\"}" >/dev/null
wait_until 60 dlq_has "$id"
assert_eq "a file over every limit is dead-lettered as too_large" too_large \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "nothing of it reached the destination" "0 $puts0" \
    "$(uploads_of "$id") $(sessions partPuts)"

# A name longer than the destination keeps (255 bytes).
long=$(python3 -c 'print("Kaufvertrag " + "ä" * 130 + ".pdf")')
id=$(uniq_id t95_long)
sandbox_add_doc acc_1001 samples/habibi.pdf \
    "$(python3 -c 'import json, sys; print(json.dumps({"documentId": sys.argv[1], "fileName": sys.argv[2]}))' "$id" "$long")" >/dev/null
wait_until 60 dlq_has "$id"
assert_eq "a name over 255 bytes is dead-lettered as file_name_too_long" file_name_too_long \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "it was never sent" 0 "$(uploads_of "$id")"

with_connector "$dir/json-chunked.json" uploader
synced "json_base64, a sample" "$(uniq_id t95_js)" samples/habibi.pdf json_base64
synced "one byte over json_base64's limit" "$(uniq_id t95_js_over)" "$dir/over-json.bin" chunked
synced "json_base64, 0 bytes" "$(uniq_id t95_js_empty)" "$dir/empty.txt" json_base64
synced "json_base64, a name with quotes and scripts" "$(uniq_id t95_js_name)" \
    samples/source.odt json_base64 "O'Brien \"Kaufvertrag\" 売買契約.odt"

with_connector "$dir/chunked.json" uploader
synced "chunked, a sample" "$(uniq_id t95_ch)" samples/smile.tiff chunked
synced "chunked, 0 bytes" "$(uniq_id t95_ch_empty)" "$dir/empty.txt" chunked
synced "chunked, a name with quotes and scripts" "$(uniq_id t95_ch_name)" \
    samples/image.jpg chunked 'Фото "дом" 照片.jpg'

# --- Part 2 of 4 answers 503 once: verified, and only that part is sent
# twice (the sandbox's request log has one PUT of each part but two of
# part 2).
SANDBOX_LOG=$E2E_ROOT/.run/logs/sandbox.log
gen "$dir/four-parts.bin" 1000000
off=$(log_size "$SANDBOX_LOG")
sandbox_fault '{"route":"tx_session_part","delayMs":1}'
sandbox_fault '{"route":"tx_session_part","status":503}'
synced "a part that failed once" "$(uniq_id t95_part)" "$dir/four-parts.bin" chunked
part_puts() {
    log_since "$SANDBOX_LOG" "$off" | grep '"method":"PUT"' |
        grep -o '/parts/[0-9]*"' | sort | uniq -c | awk '{printf "%s%s", sep, $1; sep=" "}'
}
assert_eq "parts 1 to 4 were sent once, part 2 twice" "1 2 1 1" "$(part_puts)"

# --- The session expires while part 2 is refused: the next attempt finds
# it gone and a new session takes all four parts.
off=$(log_size "$SANDBOX_LOG")
done0=$(sessions completed)
sandbox_fault '{"route":"tx_session_part","delayMs":1}'
sandbox_fault '{"route":"tx_session_part","delayMs":4000,"status":503}'
id=$(uniq_id t95_expired)
gen "$dir/expired.bin" 1000000
sandbox_add_doc acc_1001 "$dir/expired.bin" "{\"documentId\":\"$id\",\"fileName\":\"expired.bin\"}" \
    >/dev/null
one_part_in() { [ "$(sessions sessions.0.receivedParts)" = 1 ]; }
wait_until 30 one_part_in || t_fail "a session had its first part" "$(sessions sessions)"
curl -sf --max-time 10 -X POST -H 'Content-Type: application/json' --data-binary '{}' \
    "$SANDBOX_URL/admin/tx/sessions/expire" >/dev/null
wait_until 90 doc_state_is "$id" verified \
    && t_pass "an upload whose session expired is verified" \
    || t_fail "an upload whose session expired is verified" "state is $(doc_state "$id")"
assert_eq "its copy has the file's md5" "$(md5sum "$dir/expired.bin" | cut -d' ' -f1)" \
    "$(tx_doc_of "$id" | json_get md5Checksum)"
assert_eq "one session was completed" $(( done0 + 1 )) "$(sessions completed)"
assert_eq "part 1 went to both sessions, part 2 was refused once and then sent" \
    "2 2 1 1" "$(part_puts)"

# --- A limit the connector claims and the destination does not keep: the
# destination's 413 dead-letters the document, permanent.
with_connector "$dir/overclaim.json" uploader
id=$(uniq_id t95_413)
sandbox_add_doc acc_1001 "$dir/between.bin" "{\"documentId\":\"$id\"}" >/dev/null
wait_until 60 dlq_has "$id"
assert_eq "the destination's 413 is dead-lettered as upload_http_413" upload_http_413 \
    "$(dlq_header "$id" docsync.reason)"
assert_eq "nothing was stored" 0 "$(uploads_of "$id")"

# --- C07 in multipart and chunked: OAuth2 on the transaction system, a
# 401 once the whole body (or part) is in.
sandbox_config '{"tx": {"partBytes": 1048576, "limits": null},
                 "auth": {"tx": {"mode": "oauth2"}}}'
oauth='
m = c["destination"]["upload"]["modes"]
m["chunked"]["partBytes"] = 1048576
c["source"] = json.load(open(sys.argv[1].replace("sandbox-oauth2", "sandbox-apikey")))["source"]
'
connector_variant connectors/sandbox-oauth2.json "$dir/oauth.json" "$oauth"
curl -s --max-time 10 -H 'Content-Type: application/json' \
    --data-binary '{"clientId": "docsync-tx"}' "$SANDBOX_URL/admin/oauth/refresh-token" \
    | json_get refresh_token > "$dir/seed-token"
redis_cmd DEL docsync:token:destination >/dev/null
CONNECTOR_FILE="$dir/oauth.json" \
    bin/docsyncctl token set destination --refresh-token-file "$dir/seed-token" >/dev/null
with_connector "$dir/oauth.json" uploader verifier
gen "$dir/c07.bin" 5242880
sandbox_fault '{"route":"tx_upload","status":401,"afterBody":true}'
synced "multipart: a 401 after the whole 5 MiB body" "$(uniq_id t95_c07_mp)" \
    "$dir/c07.bin" multipart
connector_variant connectors/sandbox-oauth2.json "$dir/oauth-chunked.json" "$oauth"'
del m["multipart"], m["json_base64"]'
with_connector "$dir/oauth-chunked.json" uploader
sandbox_fault '{"route":"tx_session_part","delayMs":1}'
sandbox_fault '{"route":"tx_session_part","status":401,"afterBody":true}'
synced "chunked: a 401 after a whole part" "$(uniq_id t95_c07_ch)" "$dir/c07.bin" chunked
