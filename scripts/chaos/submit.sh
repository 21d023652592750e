#!/usr/bin/env bash
# submit.sh DIR RATE - adds the planned documents to the sandbox CRM at a
# steady RATE (documents per second, may be fractional).
#
# Each document is one POST /admin/crm/documents with its own documentId,
# which also fires its signed webhook to ingest. Submissions run side by
# side (at most CHAOS_SUBMIT_PARALLEL, 16), so that a slow webhook (ingest
# waiting for a broker that is down answers 503 after its delivery timeout)
# does not slow the others. Each result is appended to DIR/submitted.jsonl:
# the plan's fields plus
#     "created": the CRM holds the document,
#     "eventId", "webhookStatuses": what the sandbox says of the webhook,
#     "accepted": its last delivery got a 2xx,
#     "at": epoch ms.
# A created document whose webhook was not accepted is also appended to
# DIR/resend.jsonl for resend.sh. DIR/submit.done is written at the end.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$1
RATE=$2
PARALLEL=${CHAOS_SUBMIT_PARALLEL:-16}
TRIES=5   # of the admin call itself; the sandbox is never faulted there
load_stack_env

# submit_one PLAN_LINE: creates one document and records the outcome.
submit_one() {
    local plan=$1 body out code try created=false reply='{}'
    body=$(jq -c '{documentId, accountId, path, fileName}' <<< "$plan")
    out=$(mktemp)
    for try in $(seq 1 "$TRIES"); do
        code=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 \
            -H 'Content-Type: application/json' --data-binary "$body" \
            "$SANDBOX_URL/admin/crm/documents") || code=000
        if [ "$code" = 201 ]; then
            created=true
            reply=$(cat "$out")
            break
        fi
        # An earlier try that timed out on our side did create it; its
        # webhook's fate is unknown, so it is resent.
        if [ "$code" = 409 ]; then
            created=true
            break
        fi
        say "submit: $(jq -r .documentId <<< "$plan") try $try: HTTP $code $(head -c 200 "$out")"
        sleep 1
    done
    rm -f "$out"

    local rec
    rec=$(jq -c --argjson r "$reply" --argjson created "$created" \
        --argjson at "$(now_ms)" '. + {created: $created,
          eventId: ($r.eventId // null),
          webhookStatuses: ($r.webhookStatuses // []),
          accepted: (($r.webhookStatuses // [])
                     | (length > 0 and (last >= 200 and last < 300))),
          at: $at}' <<< "$plan")
    append "$DIR/submitted.jsonl" "$rec"
    if [ "$created" = true ] && [ "$(jq -r .accepted <<< "$rec")" = false ]; then
        append "$DIR/resend.jsonl" \
            "$(jq -c '{documentId, eventId, accountId, fileName}' <<< "$rec")"
    fi
}

interval_ms=$(awk -v r="$RATE" 'BEGIN { printf "%d", 1000 / r }')
t0=$(now_ms)
n=0
: > "$DIR/submitted.jsonl"
: > "$DIR/resend.jsonl"
while IFS= read -r line; do
    # Keep the schedule: document n leaves at t0 + n * interval.
    due=$(( t0 + n * interval_ms ))
    wait_ms=$(( due - $(now_ms) ))
    [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { print m / 1000 }')"
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do
        sleep 0.1
    done
    submit_one "$line" &
    n=$((n + 1))
    if [ $((n % 50)) -eq 0 ]; then
        say "submitted $n, $(grep -c '"accepted":false' "$DIR/submitted.jsonl" || true)" \
            "webhooks not accepted at first"
    fi
done < "$DIR/plan.jsonl"
wait
touch "$DIR/submit.done"
say "submitted $n documents in $(( ($(now_ms) - t0) / 1000 )) s"
