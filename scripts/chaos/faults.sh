#!/usr/bin/env bash
# faults.sh DIR WINDOW_S KILLS SEED - breaks the stack while documents flow.
#
# Over WINDOW_S seconds, one after the other:
#   - KILLS SIGKILLs of a stage process (`stack.sh kill-stage NAME N`),
#     spread evenly with some jitter, each started again after 2 to 6 s.
#     The stages come in shuffled rounds, so that every consumer stage is
#     hit before any is hit twice; from the second round on, each round
#     also kills ingest once. A kill takes one random replica, or one time
#     in ten both replicas of the stage at once;
#   - one Kafka restart at 30% of the window, down CHAOS_KAFKA_DOWN_S (15);
#   - one Redis restart at 60%, down CHAOS_REDIS_DOWN_S (5).
# Each fault is appended to DIR/faults.jsonl as it happens:
#     {"at":ms,"action":"kill","target":"uploader-2","pid":123,"downMs":3000}
#     {"at":ms,"action":"kafka_restart","downMs":15000,"ok":true}
# A fault whose target was not running is recorded with "pid": null and
# does not count.
# shellcheck disable=SC2016 # $names in single quotes are jq's
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$1
WINDOW_MS=$(( $2 * 1000 ))
KILLS=$3
RANDOM=$4
KAFKA_DOWN_S=${CHAOS_KAFKA_DOWN_S:-15}
REDIS_DOWN_S=${CHAOS_REDIS_DOWN_S:-5}
CONSUMERS=(fetcher mapper uploader verifier)
BAG=()
ROUND=0
OUT=$DIR/faults.jsonl
load_stack_env

record() { append "$OUT" "$(jq -cn --argjson at "$(now_ms)" "$@")"; }

# next_stage: sets stage to the next one of the current shuffled round,
# starting a new round when it is used up.
next_stage() {
    local i j t
    if [ "${#BAG[@]}" -eq 0 ]; then
        ROUND=$((ROUND + 1))
        BAG=("${CONSUMERS[@]}")
        [ "$ROUND" -ge 2 ] && BAG+=(ingest)
        for ((i = ${#BAG[@]} - 1; i > 0; i--)); do
            j=$((RANDOM % (i + 1)))
            t=${BAG[i]}; BAG[i]=${BAG[j]}; BAG[j]=$t
        done
    fi
    stage=${BAG[0]}
    BAG=("${BAG[@]:1}")
}

# kill_one: SIGKILLs the next stage's process (or both replicas of it),
# waits, starts it again.
kill_one() {
    local stage replicas down_ms r line pid name
    next_stage
    if [ "$stage" = ingest ]; then
        replicas=(1)
    elif [ $((RANDOM % 10)) -eq 0 ]; then
        replicas=(1 2)
    else
        replicas=($((RANDOM % 2 + 1)))
    fi
    rand_into down_ms 2000 6000
    for r in "${replicas[@]}"; do
        line=$(stack kill-stage "$stage" "$r" 2>&1 | grep 'killed' || true)
        pid=$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<< "$line")
        name=$stage; [ "$r" = 1 ] || name=$stage-$r
        record --arg t "$name" --argjson pid "${pid:-null}" --argjson d "$down_ms" \
            '{at: $at, action: "kill", target: $t, pid: $pid, downMs: $d}'
        say "fault: SIGKILL $name (pid ${pid:-none, not running}), back in ${down_ms} ms"
    done
    sleep "$(awk -v m="$down_ms" 'BEGIN { print m / 1000 }')"
    for r in "${replicas[@]}"; do
        stack start-stage "$stage" "$r" > /dev/null 2>&1 \
            || say "fault: could not start $stage replica $r again"
    done
}

# restart SERVICE DOWN_S: stops Kafka or Redis, waits, starts it again.
restart() {
    local ok=true t0
    say "fault: $1 down for ${2} s"
    t0=$(now_ms)
    stack "$1-stop" > /dev/null 2>&1 || ok=false
    sleep "$2"
    stack "$1-start" > /dev/null 2>&1 || ok=false
    record --arg a "$1_restart" --argjson d "$(( $(now_ms) - t0 ))" --argjson ok "$ok" \
        '{at: $at, action: $a, downMs: $d, ok: $ok}'
    say "fault: $1 back after $(( ($(now_ms) - t0) / 1000 )) s (ok: $ok)"
}

# The schedule: "offset_ms action" lines in time order.
jitter=0
slot=$(( WINDOW_MS / (KILLS > 0 ? KILLS : 1) ))
schedule="$(( WINDOW_MS * 3 / 10 )) kafka
$(( WINDOW_MS * 6 / 10 )) redis"
for i in $(seq 0 $((KILLS - 1))); do
    rand_into jitter 0 $((slot / 2))
    schedule+=$'\n'"$(( slot * i + slot / 4 + jitter )) kill"
done
t0=$(now_ms)
: > "$OUT"
while read -r offset action; do
    wait_ms=$(( t0 + offset - $(now_ms) ))
    [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN { print m / 1000 }')"
    case $action in
        kill)  kill_one ;;
        kafka) restart kafka "$KAFKA_DOWN_S" ;;
        redis) restart redis "$REDIS_DOWN_S" ;;
    esac
done < <(sort -n <<< "$schedule")
say "faults done: $(jq -s '[.[] | select(.action == "kill" and .pid != null)] | length' \
    "$OUT") kills, $(jq -s '[.[] | select(.action != "kill")] | length' "$OUT") restarts"
