# shellcheck shell=bash
# t_92_ratelimit.sh - rate limits of the transaction system.
#   - Known in advance (the connector says 4 requests per 2 s): two
#     uploaders and a verifier share the budget through Redis and the
#     sandbox refuses none of their requests.
#   - Not known in advance: for each way an API says it (X-RateLimit-*
#     with a reset in milliseconds, RateLimit / RateLimit-Policy,
#     Retry-After in seconds, Retry-After as an HTTP date) the documents are
#     all verified once, none dead-lettered: docsync waits as told (C08).

dir=$(mktemp -d)
restore() {
    sandbox_config '{"rateLimit": {"tx": null}}' || true
    default_stages uploader verifier
    rm -rf "$dir"
}
trap restore EXIT

# burst N TAG: adds N documents at once; prints their ids.
burst() {
    local n id
    for n in $(seq 1 "$1"); do
        id=$(uniq_id "t92_$2_$n")
        sandbox_add_doc "acc_100$(( n % 3 + 1 ))" samples/minimal-document.pdf \
            "{\"documentId\":\"$id\"}" >/dev/null && echo "$id"
    done
}

# all_done TAG ID...: checks that every document is verified, uploaded once
# and not dead-lettered.
all_done() {
    local tag=$1 id verified=0 once=0 dlq=0
    shift
    for id in "$@"; do
        wait_until 90 doc_state_is "$id" verified && verified=$((verified + 1))
        [ "$(uploads_of "$id")" = 1 ] && once=$((once + 1))
        dlq_has "$id" && dlq=$((dlq + 1))
    done
    assert_eq "$tag: all $# documents are verified" "$#" "$verified"
    assert_eq "$tag: each is uploaded once" "$#" "$once"
    assert_eq "$tag: none is dead-lettered" 0 "$dlq"
}

# --- The limit known in advance.
connector_variant connectors/sandbox-apikey.json "$dir/known.json" \
    'c["destination"]["rateLimit"] = {"requests": 4, "windowMs": 2000, "marginMs": 100,
                                      "resetUnit": "ms"}'
sandbox_config '{"rateLimit": {"tx": {"requests": 4, "windowMs": 2000, "style": "x-ratelimit"}}}'
with_connector "$dir/known.json" uploader verifier
stack start-stage uploader 2 CONNECTOR_FILE="$dir/known.json" >/dev/null
over0=$(sandbox_refusals byApi.tx.overLimit)
mapfile -t ids < <(burst 10 known)
all_done "known limit" "${ids[@]}"
assert_eq "known limit: the sandbox refused no request over it" \
    "$over0" "$(sandbox_refusals byApi.tx.overLimit)"
stack stop-stage uploader 2 >/dev/null 2>&1 || true

# --- Limits learnt from the answers, one header style at a time. The
# connector knows no limit, only that X-RateLimit-Reset is in milliseconds.
connector_variant connectors/sandbox-apikey.json "$dir/unknown.json" \
    'c["destination"]["rateLimit"] = {"resetUnit": "ms"}'
with_connector "$dir/unknown.json" uploader verifier
for style in x-ratelimit ratelimit retry-after-seconds retry-after-date; do
    # Each style from scratch: no limit learnt from the style before.
    redis_cmd DEL docsync:rate:destination docsync:rate:destination:hold \
        docsync:rate:destination:limit >/dev/null
    over=$(sandbox_refusals byApi.tx.overLimit)
    sandbox_config "{\"rateLimit\": {\"tx\": {\"requests\": 3, \"windowMs\": 2000,
                                             \"style\": \"$style\"}}}"
    mapfile -t ids < <(burst 8 "${style//-/_}")
    all_done "$style" "${ids[@]}"
    case $style in
        retry-after-*)
            # Nothing announces this limit before a 429: the 429s were
            # real, and were waited out.
            [ "$(sandbox_refusals byApi.tx.overLimit)" -gt "$over" ] \
                && t_pass "$style: the sandbox did answer 429s" \
                || t_fail "$style: the sandbox did answer 429s" "overLimit stayed $over" ;;
    esac
done
