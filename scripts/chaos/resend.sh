#!/usr/bin/env bash
# resend.sh DIR GIVE_UP_S - the CRM's retry of webhooks ingest did not
# accept (ingest killed: no answer; broker down: 503).
#
# Follows DIR/resend.jsonl as submit.sh appends to it and posts each
# document's event again until ingest answers 2xx: the same eventId,
# documentId, accountId and fileName, signed with the stack's webhook secret
# as the sandbox signs it. Ingest dedupes on the eventId, so a webhook whose
# answer was lost but which did get in is answered 200 "duplicate" and not
# processed twice. Tries back off from 1 s to 10 s; a document still not
# accepted after GIVE_UP_S is given up. Outcomes go to DIR/resent.jsonl:
#     {"documentId":..,"accepted":true,"status":202,"tries":3,"at":ms}
# Ends once DIR/submit.done exists and nothing is left to resend.
#
# The sandbox has no route that resends a document's webhook, so this posts
# the event to ingest itself, exactly as the sandbox would.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$1
GIVE_UP_MS=$(( $2 * 1000 ))
load_stack_env

# event_body ENTRY: the webhook body of contracts.md, keys in that order.
event_body() {
    jq -c --arg ts "$(date -u +%FT%TZ)" '{eventId: (.eventId // ("evt_" +
        .documentId + "_resent")), eventType: "DOCUMENT_CREATED", documentId,
        accountId, fileName, timestamp: $ts}' <<< "$1"
}

# post_event BODY: posts BODY to ingest, signed; prints the HTTP status
# (000 when no answer). The secret stays off command lines.
post_event() {
    local sig
    sig=$(printf '%s' "$1" | python3 -c '
import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read().rstrip(b"\r\n")
print(hmac.new(key, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())
' "$WEBHOOK_SECRET_FILE")
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' \
        -H "$WEBHOOK_SIGNATURE_HEADER: $sig" \
        --data-binary "$1" "$WEBHOOK_URL" || echo 000
}

declare -A entry next_at tries first_at
pending=()
seen=0
: > "$DIR/resent.jsonl"
touch "$DIR/resend.jsonl"
while :; do
    # New entries since the last round, read under submit.sh's lock so
    # that every line is whole and counted exactly once.
    new=$( {
        flock 9
        tail -n +"$((seen + 1))" "$DIR/resend.jsonl"
    } 9> "$DIR/resend.jsonl.lock" )
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        seen=$((seen + 1))
        id=$(jq -r .documentId <<< "$line")
        [ -n "${entry[$id]:-}" ] && continue
        entry[$id]=$line
        next_at[$id]=0
        tries[$id]=0
        first_at[$id]=$(now_ms)
        pending+=("$id")
        [ "$(jq -r '.eventId // ""' <<< "$line")" ] \
            || say "resend: $id has no known eventId; its resend is a new event"
    done <<< "$new"

    left=()
    for id in "${pending[@]}"; do
        now=$(now_ms)
        if [ "${next_at[$id]}" -gt "$now" ]; then
            left+=("$id")
            continue
        fi
        status=$(post_event "$(event_body "${entry[$id]}")")
        tries[$id]=$(( ${tries[$id]} + 1 ))
        case $status in
            2??)
                append "$DIR/resent.jsonl" "$(jq -cn --arg id "$id" \
                    --argjson s "$status" --argjson t "${tries[$id]}" \
                    --argjson at "$(now_ms)" \
                    '{documentId: $id, accepted: true, status: $s, tries: $t, at: $at}')"
                continue ;;
        esac
        if [ $(( $(now_ms) - ${first_at[$id]} )) -ge "$GIVE_UP_MS" ]; then
            say "resend: giving up on $id after ${tries[$id]} tries (last HTTP $status)"
            append "$DIR/resent.jsonl" "$(jq -cn --arg id "$id" \
                --argjson s "$((10#$status))" --argjson t "${tries[$id]}" \
                --argjson at "$(now_ms)" \
                '{documentId: $id, accepted: false, status: $s, tries: $t, at: $at}')"
            continue
        fi
        backoff=$(( 1000 << (${tries[$id]} < 4 ? ${tries[$id]} - 1 : 3) ))
        next_at[$id]=$(( $(now_ms) + (backoff < 10000 ? backoff : 10000) ))
        left+=("$id")
    done
    pending=("${left[@]}")

    if [ -e "$DIR/submit.done" ] && [ "${#pending[@]}" -eq 0 ] \
        && [ "$(wc -l < "$DIR/resend.jsonl")" -eq "$seen" ]; then
        break
    fi
    sleep 1
done
say "resend: $(grep -c '"accepted":true' "$DIR/resent.jsonl" || true) webhooks" \
    "accepted on a resend, $(grep -c '"accepted":false' "$DIR/resent.jsonl" || true) given up"
