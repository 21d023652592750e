# shellcheck shell=bash
# lib.sh - what the parts of scripts/chaos.sh share. Sourced, never run.
#
# The harness talks to the pipeline only through scripts/stack.sh, the
# sandbox's admin API, the documents' state in Redis and the DLQ topic, so
# that it keeps working while the stages' internals change.

CHAOS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# say MSG...: one progress line on stderr, stamped with the seconds since
# CHAOS_T0 when chaos.sh set it; stdout is kept for the result.
say() {
    if [ -n "${CHAOS_T0:-}" ]; then
        printf 'chaos: %4d s  %s\n' $(( $(date +%s) - CHAOS_T0 )) "$*" >&2
    else
        printf 'chaos: %s\n' "$*" >&2
    fi
}

now_ms() { date +%s%3N; }

# load_stack_env: the running stack's endpoints, written by `stack.sh up`.
load_stack_env() {
    if [ ! -f "$CHAOS_ROOT/.run/stack.env" ]; then
        say "no .run/stack.env: the stack is not up"
        return 1
    fi
    # shellcheck disable=SC1091
    . "$CHAOS_ROOT/.run/stack.env"
}

stack() { "$CHAOS_ROOT/scripts/stack.sh" "$@"; }

redis_cmd() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }

# append FILE LINE: appends one line under a lock, so that lines written by
# parallel submitters never interleave.
append() {
    {
        flock 9
        printf '%s\n' "$2" >> "$1"
    } 9> "$1.lock"
}

# rand_into VAR LO HI: sets VAR to a random integer in [LO, HI] from bash's
# generator, which the caller seeds (RANDOM=seed) for a repeatable run. Not
# an echo: bash reseeds RANDOM in every $(...) subshell.
rand_into() {
    local r=$(( (RANDOM << 15) | RANDOM ))
    printf -v "$1" '%d' $(( $2 + r % ($3 - $2 + 1) ))
}

# sandbox_chaos JSON: sets the sandbox's fault injection (POST /admin/chaos;
# '{}' turns it off). Prints the HTTP status and the reply on one line; 404
# means this sandbox has no chaos API, which the caller tolerates.
sandbox_chaos() {
    curl -s -w ' %{http_code}' --max-time 10 \
        -H 'Content-Type: application/json' --data-binary "$1" \
        "$SANDBOX_URL/admin/chaos" | awk '{ $0 = $NF " " $0; $NF = ""; print }' \
        || echo 000
}

# sandbox_chaos_stats: GET /admin/chaos, or {} when there is none.
sandbox_chaos_stats() {
    local out
    out=$(curl -sf --max-time 10 "$SANDBOX_URL/admin/chaos") || out='{}'
    jq -c . <<< "$out" 2>/dev/null || echo '{}'
}

# mapping_json: MAPPING_FILE (accountId,transactionId CSV) as a JSON object.
mapping_json() {
    awk -F, 'NR > 1 && NF >= 2 { print $1 "\t" $2 }' "$MAPPING_FILE" \
        | jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t")
                       | {key: .[0], value: .[1]}) | from_entries'
}

# doc_states SUBMITTED [FIELD]: {"documentId": value} of the hash field
# FIELD (state) of every created document, by one redis-cli pipeline.
doc_states() {
    local ids
    ids=$(jq -r 'select(.created) | .documentId' "$1")
    [ -n "$ids" ] || { echo '{}'; return; }
    paste <(echo "$ids") \
          <(sed "s/^/HGET docsync:doc:/; s/\$/ ${2:-state}/" <<< "$ids" | redis_cmd --raw) \
        | jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t")
                       | {key: .[0], value: (.[1] // "")}) | from_entries'
}

# dlq_records: every DLQ record as {key, class, reason, stage, ...}.
dlq_records() {
    timeout 60 kcat -C -b "$KAFKA_BROKERS" -t docsync.dlq -o beginning -e -q -J \
        | jq -c '(.headers // []) as $h
            | ([range(0; $h | length; 2) | {key: $h[.], value: $h[. + 1]}]
               | from_entries) as $hh
            | {key, partition, offset,
               class: $hh["__connect.errors.exception.class.name"],
               reason: $hh["docsync.reason"],
               stage: $hh["__connect.errors.stage"],
               attempts: $hh["docsync.attempts"],
               message: $hh["__connect.errors.exception.message"]}'
}
