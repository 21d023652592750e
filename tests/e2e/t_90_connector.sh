# shellcheck shell=bash
# t_90_connector.sh - the connector file. A bad one stops every stage at
# start with the bad field named; `docsyncctl connector check` says the
# same. Then the stages run with connectors/vendor-example.json against the
# sandbox's vendor-shaped routes (other paths and field names, OAuth2 on
# both sides, a subscription key, integer ids, a base64 MD5 under
# hash.md5, epoch-millisecond dates): a document is fetched, uploaded once
# and verified through them.

dir=$(mktemp -d)
restore() {
    sandbox_config '{"auth": {"crm": {"mode": "api_key"}, "tx": {"mode": "api_key"}}}' \
        || true
    default_stages fetcher uploader verifier
    rm -rf "$dir"
}
trap restore EXIT

# refused FILE FIELD: every stage started with FILE exits non-zero at once
# and names FIELD; so does `docsyncctl connector check FILE`.
refused() {
    local file=$1 field=$2 stage out rc
    for stage in fetcher uploader verifier; do
        out=$(CONNECTOR_FILE=$file timeout 20 "bin/docsync-$stage" 2>&1) && rc=0 || rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && echo "$out" | grep -qF "$field"; then
            t_pass "$stage refuses $(basename "$file") naming $field"
        else
            t_fail "$stage refuses $(basename "$file") naming $field" \
                   "exit $rc: $(echo "$out" | tail -n 2)"
        fi
    done
    out=$(bin/docsyncctl connector check "$file" 2>&1) && rc=0 || rc=$?
    if [ "$rc" -ne 0 ] && echo "$out" | grep -qF "$field"; then
        t_pass "docsyncctl connector check names $field"
    else
        t_fail "docsyncctl connector check names $field" "exit $rc: $out"
    fi
}

# --- Bad files, each refused with its field named.
connector_variant connectors/sandbox-oauth2.json "$dir/no-token-url.json" \
    'del c["destination"]["auth"]["tokenUrl"]'
refused "$dir/no-token-url.json" destination.auth.tokenUrl

connector_variant connectors/sandbox-apikey.json "$dir/bad-template.json" \
    'c["source"]["endpoints"]["metadata"] = "/api/v1/documents/{docId}"'
refused "$dir/bad-template.json" source.endpoints.metadata

connector_variant connectors/sandbox-apikey.json "$dir/typo.json" \
    'c["destination"]["rateLimt"] = {"requests": 5, "windowMs": 1000}'
refused "$dir/typo.json" destination.rateLimt

connector_variant connectors/sandbox-apikey.json "$dir/bad-encoding.json" \
    'c["destination"]["document"]["checksum"]["encoding"] = "base32"'
refused "$dir/bad-encoding.json" destination.document.checksum.encoding

printf '{"name": "cut short", "source": {' > "$dir/not-json.json"
refused "$dir/not-json.json" not-json.json

out=$(bin/docsyncctl connector check connectors/vendor-example.json 2>&1) && rc=0 || rc=$?
assert_eq "the shipped vendor example passes the check" 0 "$rc"

# --- The vendor-shaped API, end to end.
sandbox_config '{"auth": {"crm": {"mode": "oauth2"}, "tx": {"mode": "oauth2"}}}'
with_connector "$E2E_ROOT/connectors/vendor-example.json" fetcher uploader verifier
id=$(uniq_id t90_vendor)
sandbox_add_doc acc_1002 samples/habibi.pdf "{\"documentId\":\"$id\"}" >/dev/null
wait_until 60 doc_state_is "$id" verified \
    && t_pass "a document is verified through the vendor-shaped API" \
    || t_fail "a document is verified through the vendor-shaped API" \
              "state is $(doc_state "$id")"
assert_eq "it is uploaded once" 1 "$(uploads_of "$id")"
assert_eq "it is in its account's transaction" "$(mapped_transaction acc_1002)" \
    "$(tx_doc_of "$id" | json_get transactionId)"
assert_eq "the copy keeps the file's bytes (MD5)" \
    "$(md5sum samples/habibi.pdf | cut -d' ' -f1)" "$(tx_doc_of "$id" | json_get md5Checksum)"
dest=$(redis_cmd HGET "docsync:doc:$id" destinationDocumentId)
case $dest in
    ''|*[!0-9]*) t_fail "the vendor's integer id is recorded" "got '$dest'" ;;
    *) t_pass "the vendor's integer id is recorded" ;;
esac
