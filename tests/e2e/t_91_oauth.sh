# shellcheck shell=bash
# t_91_oauth.sh - OAuth2 on both APIs with tokens that live 4 seconds: the
# CRM by client credentials, the transaction system by a refresh token that
# rotates on every use and whose use invalidates the access token before
# it. Two fetchers and two uploaders share the tokens through Redis.
#   - Documents sent over several token lifetimes are all verified, once,
#     and no refresh token is ever used twice (the refresh race between
#     processes is settled by the lock, C06).
#   - A token that expires while a 5 MiB upload is under way: the 401 that
#     follows is answered by a fresh token and the whole body is sent again
#     (C07); the copy has all its bytes.
#   - A credential the token endpoint refuses for good holds the stage with
#     one error and a metric, dead-letters nothing, and revives when an
#     operator stores a new refresh token (docsyncctl token set).

dir=$(mktemp -d)
restore() {
    sandbox_config '{"auth": {"crm": {"mode": "api_key"}, "tx": {"mode": "api_key"}},
                     "oauth2": {"accessTokenTtlS": 30}}' || true
    default_stages fetcher uploader verifier
    rm -rf "$dir"
}
trap restore EXIT

connector_variant connectors/sandbox-oauth2.json "$dir/oauth.json" '
for side in ("source", "destination"):
    c[side]["auth"]["refreshMarginMs"] = 1000
'
sandbox_config '{"auth": {"crm": {"mode": "oauth2"}, "tx": {"mode": "oauth2"}},
                 "oauth2": {"accessTokenTtlS": 4}}'
reused0=$(sandbox_refusals reusedRefreshTokens)
# Tokens granted before (30 s ones) would last through the test: start
# from none. The CRM's are client credentials, granted again at will; the
# transaction system's refresh token rotates, so it is replaced the way an
# operator does it.
redis_cmd DEL docsync:token:source >/dev/null
curl -s --max-time 10 -H 'Content-Type: application/json' \
    --data-binary '{"clientId": "docsync-tx"}' "$SANDBOX_URL/admin/oauth/refresh-token" \
    | json_get refresh_token > "$dir/seed-token"
# token set checks that the connector gives the API the refresh-token grant.
CONNECTOR_FILE="$dir/oauth.json" \
    bin/docsyncctl token set destination --refresh-token-file "$dir/seed-token" >/dev/null
generation() {
    bin/docsyncctl token show destination 2>/dev/null | awk '/^generation:/ {print $2}'
}
gen0=$(generation)
with_connector "$dir/oauth.json" fetcher uploader verifier
stack start-stage fetcher 2 CONNECTOR_FILE="$dir/oauth.json" >/dev/null
stack start-stage uploader 2 CONNECTOR_FILE="$dir/oauth.json" >/dev/null

# --- Twelve documents over about 12 seconds: three token lifetimes.
ids=()
for n in $(seq 1 12); do
    ids+=("$(uniq_id "t91_$n")")
    sandbox_add_doc "acc_100$(( n % 3 + 1 ))" samples/minimal-document.pdf \
        "{\"documentId\":\"${ids[-1]}\"}" >/dev/null
    sleep 1
done
verified=0 once=0
for id in "${ids[@]}"; do
    wait_until 60 doc_state_is "$id" verified && verified=$((verified + 1))
    [ "$(uploads_of "$id")" = 1 ] && once=$((once + 1))
done
assert_eq "12 documents over three token lifetimes are verified" 12 "$verified"
assert_eq "each is uploaded once" 12 "$once"
assert_eq "no refresh token was used twice (one refresher at a time)" \
    "$reused0" "$(sandbox_refusals reusedRefreshTokens)"
dlq=0
for id in "${ids[@]}"; do dlq_has "$id" && dlq=$((dlq + 1)); done
assert_eq "none of them is dead-lettered" 0 "$dlq"
gen=$(generation)
[ $(( ${gen:-0} - ${gen0:-0} )) -ge 3 ] \
    && t_pass "the transaction token was refreshed several times ($gen0 -> $gen)" \
    || t_fail "the transaction token was refreshed several times" \
              "generation ${gen0:-none} -> ${gen:-none}"

# --- C07: a 401 once the whole 5 MiB body is in (afterBody: the sandbox
# reads the upload, then refuses it as an expired token); the retry sends
# all of it.
head -c 5242880 /dev/urandom > "$dir/big.bin"
sandbox_fault '{"route":"tx_upload","count":1,"status":401,"afterBody":true}'
id=$(uniq_id t91_big)
sandbox_add_doc acc_1001 "$dir/big.bin" "{\"documentId\":\"$id\",\"fileName\":\"big.bin\"}" \
    >/dev/null
wait_until 90 doc_state_is "$id" verified \
    && t_pass "a 5 MiB upload refused with 401 is verified after a new token" \
    || t_fail "a 5 MiB upload refused with 401 is verified after a new token" \
              "state is $(doc_state "$id")"
assert_eq "the copy has all 5242880 bytes" 5242880 "$(tx_doc_of "$id" | json_get size)"
assert_eq "the copy's MD5 is the file's" "$(md5sum "$dir/big.bin" | cut -d' ' -f1)" \
    "$(tx_doc_of "$id" | json_get md5Checksum)"

# --- A dead credential: the refresh tokens are revoked.
curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
    --data-binary '{"clientId": "docsync-tx"}' "$SANDBOX_URL/admin/oauth/revoke"
# The documents of one account go to one partition, so to either uploader:
# read both replicas' logs from here on.
ulogs=("$DOCSYNC_RUN_DIR/logs/uploader.log" "$DOCSYNC_RUN_DIR/logs/uploader-2.log")
offs=("$(log_size "${ulogs[0]}")" "$(log_size "${ulogs[1]}")")
uploader_says() {
    log_since "${ulogs[0]}" "${offs[0]}"
    log_since "${ulogs[1]}" "${offs[1]}"
}
ids=()
for n in 1 2 3; do
    ids+=("$(uniq_id "t91_dead_$n")")
    sandbox_add_doc acc_1003 samples/minimal-document.pdf \
        "{\"documentId\":\"${ids[-1]}\"}" >/dev/null
done
refused() { uploader_says | grep -q credential_refused; }
wait_until 40 refused \
    && t_pass "the uploader says the credential is refused" \
    || t_fail "the uploader says the credential is refused" "no credential_refused in its log"
sleep 5
dead=$(stage_metric uploader 'docsync_credential_dead{api="destination"}' || echo 0)
[ "${dead:-0}" -ge 1 ] && t_pass "the dead credential is a metric (uploaders: $dead)" \
    || t_fail "the dead credential is a metric" "docsync_credential_dead=${dead:-none}"
lines=$(uploader_says | grep -c '"level":"error".*credential is dead' || true)
assert_eq "each uploader that found it dead says so in one error line, not one per record" \
    "${dead:-0}" "$lines"
dlq=0
for id in "${ids[@]}"; do dlq_has "$id" && dlq=$((dlq + 1)); done
assert_eq "no document is dead-lettered for it" 0 "$dlq"
fresh=$(curl -s --max-time 10 -H 'Content-Type: application/json' \
    --data-binary '{"clientId": "docsync-tx"}' "$SANDBOX_URL/admin/oauth/refresh-token" \
    | json_get refresh_token)
printf '%s\n' "$fresh" > "$dir/fresh-token"
CONNECTOR_FILE="$dir/oauth.json" \
    bin/docsyncctl token set destination --refresh-token-file "$dir/fresh-token" >/dev/null \
    && t_pass "docsyncctl token set stores a new refresh token" \
    || t_fail "docsyncctl token set stores a new refresh token"
verified=0
for id in "${ids[@]}"; do
    wait_until 60 doc_state_is "$id" verified && verified=$((verified + 1))
done
assert_eq "with the new refresh token the held documents are verified" 3 "$verified"
