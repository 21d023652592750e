#!/usr/bin/env bash
# check.sh [DIR] - compares what a chaos run submitted with what the
# pipeline did, against the stack that is still up.
#
# Reads DIR (.run/logs/chaos) as the other parts left it, snapshots the
# documents' state in Redis, the DLQ (kcat -J), the transaction system
# (GET /admin/tx/documents) and the sandbox's fault counts into DIR, and
# works out the verdict with check.jq into DIR/result.json. Prints each
# failed document with its Redis timeline and its last log lines on stderr
# (all of them also into DIR/problems.txt), then the summary as one JSON
# line on stdout:
#     {"documents": N, "verified": V, "dead_lettered": D, "lost": L,
#      "duplicates": U, "misattached": M, "faults": F}
# Exits 0 when no document has a problem. Can be run by hand after a run
# whose stack is still up (CHAOS_KEEP_STACK=1).
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=${1:-$CHAOS_ROOT/.run/logs/chaos}
SHOW=${CHAOS_SHOW_PROBLEMS:-20}   # documents printed in full on stderr
load_stack_env

# evidence ID PROBLEMS: what Redis and the logs say about one document.
evidence() {
    echo "== $1"
    jq -r '.[] | "   " + .' <<< "$2"
    echo "   timeline:"
    redis_cmd LRANGE "docsync:timeline:$1" 0 -1 | sed 's/^/     /'
    echo "   last log lines:"
    grep -h -F "\"documentId\":\"$1\"" "$CHAOS_ROOT"/.run/logs/*.log 2>/dev/null \
        | sort | tail -n 12 | cut -c1-400 | sed 's/^/     /'
}

touch "$DIR/resent.jsonl" "$DIR/faults.jsonl"
doc_states "$DIR/submitted.jsonl" > "$DIR/states.json"
doc_states "$DIR/submitted.jsonl" verified_at > "$DIR/verified-at.json"
dlq_records > "$DIR/dlq.jsonl"
curl -sf --max-time 60 "$SANDBOX_URL/admin/tx/documents" > "$DIR/tx.json" \
    || { say "check: the sandbox did not list its documents"; exit 1; }
# The counts as chaos.sh saved them when it turned the faults off, unless
# the sandbox still has more (it may reset them when turned off).
sandbox_chaos_stats > "$DIR/sandbox-chaos.json"
if [ -s "$DIR/sandbox-chaos-at-off.json" ] && [ "$(jq '.injected.total // 0' \
        "$DIR/sandbox-chaos-at-off.json")" -gt "$(jq '.injected.total // 0' \
        "$DIR/sandbox-chaos.json")" ]; then
    cp "$DIR/sandbox-chaos-at-off.json" "$DIR/sandbox-chaos.json"
fi
mapping_json > "$DIR/mapping.json"

jq -n -c \
    --slurpfile subs "$DIR/submitted.jsonl" --slurpfile resent "$DIR/resent.jsonl" \
    --slurpfile faults "$DIR/faults.jsonl" --slurpfile dlq "$DIR/dlq.jsonl" \
    --slurpfile states "$DIR/states.json" --slurpfile vat "$DIR/verified-at.json" \
    --slurpfile tx "$DIR/tx.json" \
    --slurpfile map "$DIR/mapping.json" --slurpfile chaos "$DIR/sandbox-chaos.json" \
    -f "$CHAOS_ROOT/scripts/chaos/check.jq" > "$DIR/result.json"

n=$(jq '.problems | length' "$DIR/result.json")
: > "$DIR/problems.txt"
if [ "$n" -gt 0 ]; then
    say "check: $n documents failed the checks (all in $DIR/problems.txt):"
    i=0
    while IFS= read -r p; do
        id=$(jq -r .id <<< "$p")
        ev=$(evidence "$id" "$(jq -c .problems <<< "$p")")
        printf '%s\n' "$ev" >> "$DIR/problems.txt"
        [ "$i" -lt "$SHOW" ] && printf '%s\n' "$ev" >&2
        i=$((i + 1))
    done < <(jq -c '.problems[]' "$DIR/result.json")
    [ "$i" -gt "$SHOW" ] && say "check: ... and $((i - SHOW)) more"
fi
say "check: $(jq -c .info "$DIR/result.json")"

# C09: after outages the stages must not flatten the API. Each replica
# makes one call at a time, so a route sees at most one per replica (two
# here), plus one each while the sandbox notices a client that gave up.
say "check: C09: most requests in flight per route: $(jq -c '.maxInFlight // {}' \
    "$DIR/sandbox-chaos.json")"
if [ "$(jq '[.maxInFlight // {} | to_entries[] | select(.value > 4)] | length' \
        "$DIR/sandbox-chaos.json")" -gt 0 ]; then
    say "check: C09: a route had more than 4 requests in flight at once"
    n=$((n + 1))
fi
jq -r '.summary | "{\"documents\": \(.documents), \"verified\": \(.verified), "
    + "\"dead_lettered\": \(.dead_lettered), \"lost\": \(.lost), "
    + "\"duplicates\": \(.duplicates), \"misattached\": \(.misattached), "
    + "\"faults\": \(.faults)}"' "$DIR/result.json"
[ "$n" -eq 0 ]
