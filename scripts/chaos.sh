#!/usr/bin/env bash
# chaos.sh [--short] - many documents through a local stack that is being
# broken on purpose, then a count of what arrived.
#
# Starts a fresh stack (scripts/stack.sh up) with two replicas of each
# consumer stage, submits CHAOS_DOCS documents (1000; --short 250) through
# the sandbox CRM at a steady CHAOS_RATE per second (2.5), about 2% of them
# on an account the mapping does not know, and meanwhile:
#   - SIGKILLs stage processes CHAOS_KILLS times (12; --short 4) and starts
#     them again, restarts Kafka once and Redis once (scripts/chaos/faults.sh);
#   - has the sandbox inject HTTP faults on every route (POST /admin/chaos:
#     5% 5xx, 2% hangs past the stages' HTTP_TIMEOUT_MS, resets, bursts of
#     429; --short about half as many);
#   - resends every webhook ingest did not accept (scripts/chaos/resend.sh).
# Then it turns the faults off, waits until every document is verified or
# dead-lettered and nothing has changed for CHAOS_QUIET_S (30; --short 20),
# or nothing changed for CHAOS_STALL_S (180; 120), or CHAOS_SETTLE_TIMEOUT
# (900; 300) passed, and compares the CRM with the transaction system and
# the DLQ (scripts/chaos/check.sh). Its last line on stdout is
#     {"documents": N, "verified": V, "dead_lettered": D, "lost": L,
#      "duplicates": U, "misattached": M, "faults": F}
# and it exits 0 only when nothing was lost, duplicated or misattached, the
# DLQ holds exactly the unmapped-account documents, as permanent failures.
# Progress goes to stderr. The stack is stopped at the end; its logs and
# the run's files stay in .run/logs (chaos/ for the harness's own).
#
# Settings from the environment: CHAOS_DOCS, CHAOS_RATE, CHAOS_KILLS,
# CHAOS_SEED (random; printed, so a run's schedule can be repeated),
# CHAOS_SANDBOX (the JSON for /admin/chaos), CHAOS_KAFKA_DOWN_S (15),
# CHAOS_REDIS_DOWN_S (5), CHAOS_QUIET_S, CHAOS_STALL_S,
# CHAOS_SETTLE_TIMEOUT, CHAOS_RESEND_GIVE_UP_S (300), CHAOS_KEEP_STACK=1
# (leave the stack up for check.sh by hand), CHAOS_KEEP_CORPUS=1, and the
# stack's own (HTTP_TIMEOUT_MS defaults to 3000 here).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/chaos/lib.sh
. scripts/chaos/lib.sh

MODE=full
case ${1:-} in
    --short) MODE=short ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "usage: scripts/chaos.sh [--short]" >&2; exit 2 ;;
esac

if [ "$MODE" = short ]; then
    DOCS=${CHAOS_DOCS:-250}; KILLS=${CHAOS_KILLS:-4}
    QUIET_S=${CHAOS_QUIET_S:-20}; STALL_S=${CHAOS_STALL_S:-120}
    SETTLE_TIMEOUT=${CHAOS_SETTLE_TIMEOUT:-300}
    SANDBOX_CHAOS='{"routes": "*", "rate5xx": 0.02, "rateHang": 0.01,
        "hangMs": 30000, "rateReset": 0.005,
        "burst429": {"everyMs": 20000, "lengthMs": 1000, "retryAfterS": 1}}'
else
    DOCS=${CHAOS_DOCS:-1000}; KILLS=${CHAOS_KILLS:-12}
    QUIET_S=${CHAOS_QUIET_S:-30}; STALL_S=${CHAOS_STALL_S:-180}
    SETTLE_TIMEOUT=${CHAOS_SETTLE_TIMEOUT:-900}
    SANDBOX_CHAOS='{"routes": "*", "rate5xx": 0.05, "rateHang": 0.02,
        "hangMs": 30000, "rateReset": 0.01,
        "burst429": {"everyMs": 15000, "lengthMs": 2000, "retryAfterS": 1}}'
fi
RATE=${CHAOS_RATE:-2.5}
SEED=${CHAOS_SEED:-$(( $(date +%s%N) % 32768 ))}
SANDBOX_CHAOS=$(jq -c --argjson seed "$SEED" '. + {seed: $seed}' \
    <<< "${CHAOS_SANDBOX:-$SANDBOX_CHAOS}")
WINDOW_S=$(awk -v n="$DOCS" -v r="$RATE" 'BEGIN { printf "%d", n / r + 0.999 }')
export HTTP_TIMEOUT_MS=${HTTP_TIMEOUT_MS:-3000}
CONSUMERS=(fetcher mapper uploader verifier)

DIR=$ROOT/.run/logs/chaos      # the run's record, kept with the stack's logs
CORPUS=$ROOT/.run/chaos-corpus # generated files, removed at the end
BG_PIDS=()
SUMMARY=

# finish: whatever happened, stop our helpers and the stack; the result
# line is the last thing on stdout.
# shellcheck disable=SC2317 # called by the EXIT trap
finish() {
    local rc=$? p
    set +e
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    if [ -n "${SANDBOX_URL:-}" ]; then
        sandbox_chaos '{}' > /dev/null
    fi
    if [ "${CHAOS_KEEP_STACK:-0}" = 1 ]; then
        say "the stack stays up (CHAOS_KEEP_STACK=1); scripts/stack.sh down stops it"
    else
        scripts/stack.sh down >&2
    fi
    [ "${CHAOS_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$CORPUS/files"
    if [ -z "$SUMMARY" ]; then
        [ "$rc" -eq 0 ] && rc=1
        SUMMARY='{"documents": 0, "verified": 0, "dead_lettered": 0, "lost": 0, "duplicates": 0, "misattached": 0, "faults": 0}'
    fi
    echo "$SUMMARY"
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ensure_replicas: starts any consumer replica (or ingest) that is not
# running; says which, since one that died without our kill is a finding.
ensure_replicas() {
    local s r out
    for s in "${CONSUMERS[@]}"; do
        for r in 1 2; do
            out=$(stack start-stage "$s" "$r" 2>&1) || say "could not start $s replica $r: $out"
            grep -q 'already running' <<< "$out" || say "$1: $s replica $r was not running: $out"
        done
    done
    out=$(stack start-stage ingest 1 2>&1) || say "could not start ingest: $out"
    grep -q 'already running' <<< "$out" || say "$1: ingest was not running: $out"
}

# settle: waits for every document to be verified or dead-lettered and
# for nothing to change for QUIET_S; gives up after STALL_S without change
# or SETTLE_TIMEOUT in all. Prints progress every 15 s.
settle() {
    local t0 last_change fp last_fp='' states dlq tx n settled said=0 why
    t0=$(date +%s)
    last_change=$t0
    n=$(jq -s 'map(select(.created)) | length' "$DIR/submitted.jsonl")
    while :; do
        states=$(doc_states "$DIR/submitted.jsonl")
        dlq=$(dlq_records | jq -s -c 'map(.key) | unique')
        tx=$(curl -sf --max-time 30 "$SANDBOX_URL/admin/tx/documents" \
            | jq -c '{uploads: ([.uploadsBySource[]] | add // 0),
                      replays: (.idempotentReplays // 0)}') || tx='{}'
        settled=$(jq -n --argjson s "$states" --argjson d "$dlq" \
            '[$s | to_entries[] | select(.value == "verified" or (.key | IN($d[])))]
             | length')
        fp=$(printf '%s %s %s' "$states" "$dlq" "$tx" | md5sum)
        if [ "$fp" != "$last_fp" ]; then
            last_fp=$fp
            last_change=$(date +%s)
        fi
        local now quiet
        now=$(date +%s)
        quiet=$(( now - last_change ))
        if [ $(( now - said )) -ge 15 ]; then
            said=$now
            say "settling: $settled of $n verified or dead-lettered; states" \
                "$(jq -c 'to_entries | group_by(.value)
                         | map({key: (.[0].value | if . == "" then "none" else . end),
                                value: length}) | from_entries' <<< "$states");" \
                "dlq $(jq length <<< "$dlq"); tx $tx; unchanged ${quiet} s"
        fi
        if [ "$settled" -eq "$n" ] && [ "$quiet" -ge "$QUIET_S" ]; then
            why="all settled, unchanged for ${quiet} s"
            break
        fi
        if [ "$quiet" -ge "$STALL_S" ]; then
            why="stalled: $((n - settled)) unsettled and nothing changed for ${quiet} s"
            break
        fi
        if [ $(( now - t0 )) -ge "$SETTLE_TIMEOUT" ]; then
            why="deadline of ${SETTLE_TIMEOUT} s: $((n - settled)) unsettled"
            break
        fi
        sleep 5
    done
    say "settled after $(( $(date +%s) - t0 )) s: $why"
}

T0=$(date +%s)
export CHAOS_T0=$T0
say "$MODE run: $DOCS documents at $RATE/s over ${WINDOW_S} s, $KILLS kills," \
    "seed $SEED, HTTP_TIMEOUT_MS $HTTP_TIMEOUT_MS"

scripts/stack.sh down > /dev/null 2>&1 || true
scripts/stack.sh up >&2
load_stack_env
for s in "${CONSUMERS[@]}"; do
    stack start-stage "$s" 2 >&2
done
T_UP=$(date +%s)

rm -rf "$CORPUS" "$DIR"
mkdir -p "$CORPUS" "$DIR"
scripts/chaos/corpus.sh "$CORPUS" "$DOCS" "$SEED"
cp "$CORPUS/plan.jsonl" "$DIR/plan.jsonl"
T_CORPUS=$(date +%s)

reply=$(sandbox_chaos "$SANDBOX_CHAOS")
case $reply in
    2??*) say "sandbox faults on: $SANDBOX_CHAOS" ;;
    404*) say "this sandbox has no /admin/chaos (404): no HTTP faults injected" ;;
    *)    say "POST /admin/chaos refused $SANDBOX_CHAOS: $reply; no HTTP faults" ;;
esac

scripts/chaos/resend.sh "$DIR" "${CHAOS_RESEND_GIVE_UP_S:-300}" &
BG_PIDS+=($!); resend_pid=$!
scripts/chaos/submit.sh "$DIR" "$RATE" &
BG_PIDS+=($!); submit_pid=$!
scripts/chaos/faults.sh "$DIR" "$WINDOW_S" "$KILLS" "$SEED" &
BG_PIDS+=($!); faults_pid=$!
wait "$submit_pid" || say "the submitter failed"
wait "$faults_pid" || say "the fault schedule failed"
T_FLOW=$(date +%s)

sandbox_chaos_stats > "$DIR/sandbox-chaos-at-off.json"
sandbox_chaos '{}' > /dev/null
say "faults off; sandbox counts: $(jq -c '.injected // "none"' "$DIR/sandbox-chaos-at-off.json")"
ensure_replicas "after the faults"
wait "$resend_pid" || say "the resender failed"
T_RESEND=$(date +%s)
settle
ensure_replicas "after settling"
T_SETTLE=$(date +%s)

rc=0
SUMMARY=$(scripts/chaos/check.sh "$DIR" | tail -n 1) || rc=$?
[ -n "$SUMMARY" ] || rc=1
say "took $(( $(date +%s) - T0 )) s: stack up $((T_UP - T0)) s, corpus $((T_CORPUS - T_UP)) s," \
    "flow $((T_FLOW - T_CORPUS)) s, resends $((T_RESEND - T_FLOW)) s," \
    "settle $((T_SETTLE - T_RESEND)) s," \
    "check $(( $(date +%s) - T_SETTLE )) s; record in $DIR"
exit "$rc"
