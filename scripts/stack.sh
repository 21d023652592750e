#!/usr/bin/env bash
# stack.sh - the local docsync stack on 127.0.0.1: Kafka 3.9 (KRaft, one
# combined node), Redis, the sandbox CRM and transaction system, and one
# replica of each stage.
#
#   scripts/stack.sh up                      fresh stack on free ports
#   scripts/stack.sh down                    stop everything, keep .run/logs
#   scripts/stack.sh status                  what runs where (exit 1 if not all)
#   scripts/stack.sh start-stage NAME [N] [KEY=VALUE...]
#                                            start replica N (default 1), with
#                                            settings that override stack.env;
#                                            waits until it runs, exit 1 (and
#                                            its log) when it dies at once
#   scripts/stack.sh stop-stage NAME [N]     SIGTERM replica N, or all replicas
#   scripts/stack.sh kill-stage NAME [N]     SIGKILL it, as a crash would
#   scripts/stack.sh kafka-stop | kafka-start | redis-stop | redis-start
#
# Endpoints and the stages' environment are written to .run/stack.env for
# tests and the demo to `source`. Every stage replica serves GET /metrics
# and GET /healthz on a free port of its own, recorded there as
# METRICS_URL_<STAGE>_<N> (METRICS_URL_FETCHER_2=http://127.0.0.1:PORT) when
# it starts, and shown by `status`. Settings the caller may override from its
# environment: LOG_LEVEL, MAX_ATTEMPTS, BACKOFF_BASE_MS, BACKOFF_CAP_MS,
# RETRY_BUDGET_MS, GRACE_DELAY_MS, BREAKER_THRESHOLD, BREAKER_COOLDOWN_MS,
# BREAKER_COOLDOWN_MAX_MS, HTTP_CONNECT_TIMEOUT_MS, HTTP_TIMEOUT_MS, WEBHOOK_MAX_BODY,
# DEST_DATE_FORMAT, KAFKA_MAX_POLL_INTERVAL_MS, STACK_STOP_TIMEOUT.
# STAGE_WRAP, when set, prefixes the command of every stage replica started
# (split on spaces), e.g. STAGE_WRAP="valgrind --log-file=/tmp/vg.%p"
# scripts/stack.sh start-stage fetcher; the replica's pid is then the
# wrapper's, which runs the stage in the same process.
#
# STACK_PROFILE picks how the sandbox and the stages talk (default apikey):
#   apikey  static API keys in X-API-Key, no rate limits (the built-in
#           connector)
#   strict  OAuth2 on both APIs (client credentials on the CRM, a rotating
#           refresh token on the transaction system, SANDBOX_TOKEN_TTL_S
#           second tokens, 30 by default) and 20 requests per second on each
#           API, through connectors/sandbox-oauth2.json
#   poll    strict, with ingest polling the CRM and no webhooks sent
# The sandbox's clients and secrets exist in every profile, so a test can
# switch the sandbox to OAuth2 (POST /admin/config) and start a stage with
# CONNECTOR_FILE=connectors/sandbox-oauth2.json.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"   # every process of the stack runs from the repo root
RUN=$ROOT/.run
LOGS=$RUN/logs
PIDS=$RUN/pids
ENV_FILE=$RUN/stack.env
BIN=${DOCSYNC_BIN_DIR:-$ROOT/bin}   # override only to test this script
HOST=127.0.0.1

KAFKA_VERSION=3.9.1
CACHE=${DOCSYNC_CACHE:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/docsync}
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
KAFKA_DIR=$RUN/kafka

STAGES=(ingest fetcher mapper uploader verifier)
TOPICS=(docsync.events docsync.fetched docsync.mapped docsync.uploaded
        docsync.verified docsync.dlq docsync.retry.fetcher docsync.retry.mapper
        docsync.retry.uploader docsync.retry.verifier)
TOPIC_PARTITIONS=4

# Bounds, in seconds.
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-20}
PROFILE=${STACK_PROFILE:-apikey}
case $PROFILE in
    apikey|strict|poll) ;;
    *) printf 'stack: error: STACK_PROFILE must be apikey, strict or poll\n' >&2; exit 2 ;;
esac
KAFKA_START_TIMEOUT=90
HEALTH_TIMEOUT=30

log()  { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: warning: %s\n' "$*" >&2; }
die()  { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes

pidfile() { printf '%s/%s.pid\n' "$PIDS" "$1"; }

# What the command line of process NAME contains, so that a pid recycled by
# another program is never taken for ours.
proc_pattern() {
    case $1 in
        kafka)   echo 'kafka.Kafka' ;;
        redis)   echo 'redis-server' ;;
        sandbox) echo 'docsync-sandbox' ;;
        *)       echo "docsync-${1%%-[0-9]*}" ;;
    esac
}

# Prints the pid of NAME and succeeds when it runs.
running() {
    local f pid
    f=$(pidfile "$1")
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -F -- "$(proc_pattern "$1")" >/dev/null || return 1
    echo "$pid"
}

# Starts "$@" as NAME in its own session, detached from our terminal and
# pipes (stdout and stderr appended to .run/logs/NAME.log), and records its
# pid. The process writes its own pid before exec, so the pid is the
# program's even when setsid has to fork.
start_bg() {
    local name=$1 f i
    shift
    f=$(pidfile "$name")
    rm -f "$f"
    setsid bash -c 'echo $$ > "$0"; exec "$@"' "$f" "$@" \
        < /dev/null >> "$LOGS/$name.log" 2>&1 &
    for i in $(seq 1 50); do
        [ -s "$f" ] && return 0
        sleep 0.1
    done
    die "$name did not start (see $LOGS/$name.log)"
}

# Waits up to $2 seconds for every pid in $1 (space separated) to exit.
# Succeeds when all are gone.
wait_gone() {
    local pids=$1 deadline=$(( $(date +%s) + $2 )) p alive
    while :; do
        alive=0
        for p in $pids; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ "$alive" -eq 0 ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

# Stops the named processes together: SIGTERM to all, then SIGKILL to those
# still alive after STOP_TIMEOUT. Removes their pid files.
stop_procs() {
    local name pid pids="" names=""
    for name in "$@"; do
        if pid=$(running "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids="$pids $pid"
            names="$names $name"
        fi
    done
    if [ -n "$pids" ] && ! wait_gone "$pids" "$STOP_TIMEOUT"; then
        for pid in $pids; do
            if kill -0 "$pid" 2>/dev/null; then
                warn "pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
        wait_gone "$pids" 5 || warn "some of$names did not exit"
    fi
    [ -n "$names" ] && log "stopped$names"
    for name in "$@"; do
        rm -f "$(pidfile "$name")"
    done
}

# The last lines of a log, to explain a failure without opening files.
show_log() {
    local f=$LOGS/$1.log
    [ -f "$f" ] || return 0
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n "${2:-20}" "$f" >&2
    printf -- '---\n' >&2
}

# ------------------------------------------------------------- environment

# Prints N distinct ports that are free on 127.0.0.1, chosen below the
# kernel's ephemeral range so outgoing connections cannot take them later.
pick_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
n, held, ports = int(sys.argv[1]), [], []
candidates = random.sample(range(20000, 32000), 400)
for port in candidates:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(port)
    if len(ports) == n:
        break
if len(ports) < n:
    sys.exit("no free ports found")
print(" ".join(map(str, ports)))
PY
}

random_token() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }

load_env() {
    [ -f "$ENV_FILE" ] || die "no $ENV_FILE: run 'scripts/stack.sh up' first"
    # shellcheck disable=SC1090
    . "$ENV_FILE"
}

# Writes the secrets and .run/stack.env for a fresh stack.
write_env() {
    local ports kport cport rport sport iport
    ports=$(pick_ports 5)
    read -r kport cport rport sport iport <<< "$ports"

    mkdir -p "$RUN/secrets"
    chmod 700 "$RUN/secrets"
    (umask 077
     random_token > "$RUN/secrets/webhook_secret"
     random_token > "$RUN/secrets/crm_api_key"
     random_token > "$RUN/secrets/dest_api_key"
     random_token > "$RUN/secrets/crm_client_secret"
     random_token > "$RUN/secrets/dest_client_secret"
     random_token > "$RUN/secrets/dest_refresh_token"
     random_token > "$RUN/secrets/crm_subscription_key")

    {
        echo "# Written by scripts/stack.sh up on $(date -u +%FT%TZ); source it."
        kv DOCSYNC_RUN_DIR "$RUN"
        kv KAFKA_HOME "$(dirname "$KAFKA_LIBS")"
        kv KAFKA_PORT "$kport"
        kv KAFKA_CONTROLLER_PORT "$cport"
        kv KAFKA_BROKERS "$HOST:$kport"
        kv DOCSYNC_TOPICS "${TOPICS[*]}"
        kv REDIS_HOST "$HOST"
        kv REDIS_PORT "$rport"
        kv SANDBOX_PORT "$sport"
        kv SANDBOX_URL "http://$HOST:$sport"
        kv INGEST_PORT "$iport"
        kv INGEST_URL "http://$HOST:$iport"
        kv WEBHOOK_URL "http://$HOST:$iport/webhooks/crm"
        kv WEBHOOK_SECRET_FILE "$RUN/secrets/webhook_secret"
        kv WEBHOOK_SIGNATURE_HEADER "X-Signature"
        kv WEBHOOK_MAX_BODY "${WEBHOOK_MAX_BODY:-65536}"
        kv CRM_BASE_URL "http://$HOST:$sport"
        kv CRM_API_KEY_FILE "$RUN/secrets/crm_api_key"
        kv CRM_API_KEY_HEADER "X-API-Key"
        kv DEST_BASE_URL "http://$HOST:$sport"
        kv DEST_API_KEY_FILE "$RUN/secrets/dest_api_key"
        kv DEST_API_KEY_HEADER "X-API-Key"
        kv DEST_DATE_FORMAT "${DEST_DATE_FORMAT:-%Y-%m-%d}"
        kv MAPPING_FILE "$ROOT/scripts/stack/mapping.csv"
        kv STACK_PROFILE "$PROFILE"
        kv CRM_TOKEN_URL "http://$HOST:$sport/oauth/token"
        kv CRM_CLIENT_ID docsync-crm
        kv CRM_CLIENT_SECRET_FILE "$RUN/secrets/crm_client_secret"
        kv CRM_SUBSCRIPTION_KEY_FILE "$RUN/secrets/crm_subscription_key"
        kv DEST_TOKEN_URL "http://$HOST:$sport/oauth/token"
        kv DEST_CLIENT_ID docsync-tx
        kv DEST_CLIENT_SECRET_FILE "$RUN/secrets/dest_client_secret"
        kv DEST_REFRESH_TOKEN_FILE "$RUN/secrets/dest_refresh_token"
        kv SANDBOX_CONFIG_FILE "$RUN/secrets/sandbox-config.json"
        if [ "$PROFILE" != apikey ]; then
            kv CONNECTOR_FILE "$ROOT/connectors/sandbox-oauth2.json"
        fi
        if [ "$PROFILE" = poll ]; then
            kv INGEST_MODE poll
            kv POLL_INTERVAL_MS "${POLL_INTERVAL_MS:-1000}"
        fi
        kv BLOB_DIR "$RUN/blobs"
        kv LOG_LEVEL "${LOG_LEVEL:-info}"
        # Shorter than the production defaults, so that tests of retries
        # and timeouts finish in seconds.
        kv HTTP_CONNECT_TIMEOUT_MS "${HTTP_CONNECT_TIMEOUT_MS:-2000}"
        kv HTTP_TIMEOUT_MS "${HTTP_TIMEOUT_MS:-10000}"
        kv MAX_ATTEMPTS "${MAX_ATTEMPTS:-5}"
        kv BACKOFF_BASE_MS "${BACKOFF_BASE_MS:-500}"
        kv BACKOFF_CAP_MS "${BACKOFF_CAP_MS:-4000}"
        kv RETRY_BUDGET_MS "${RETRY_BUDGET_MS:-60000}"
        kv GRACE_DELAY_MS "${GRACE_DELAY_MS:-1000}"
        kv BREAKER_THRESHOLD "${BREAKER_THRESHOLD:-5}"
        kv BREAKER_COOLDOWN_MS "${BREAKER_COOLDOWN_MS:-500}"
        kv BREAKER_COOLDOWN_MAX_MS "${BREAKER_COOLDOWN_MAX_MS:-5000}"
        kv KAFKA_MAX_POLL_INTERVAL_MS "${KAFKA_MAX_POLL_INTERVAL_MS:-300000}"
    } > "$ENV_FILE"
}

kv() { printf 'export %s=%q\n' "$1" "$2"; }

# Writes the sandbox's config for the profile: its OAuth2 clients (always),
# OAuth2 and rate limits on both APIs (strict and poll).
write_sandbox_config() {
    local mode=api_key limits='{}'
    if [ "$PROFILE" != apikey ]; then
        mode=oauth2
        limits='{"crm": {"requests": 20, "windowMs": 1000, "style": "x-ratelimit"},
                 "tx": {"requests": 20, "windowMs": 1000, "style": "ratelimit"}}'
    fi
    (umask 077
     cat > "$SANDBOX_CONFIG_FILE" <<EOF
{
  "auth": {"crm": {"mode": "$mode"}, "tx": {"mode": "$mode"}},
  "oauth2": {
    "accessTokenTtlS": ${SANDBOX_TOKEN_TTL_S:-30},
    "clients": [
      {"clientId": "$CRM_CLIENT_ID", "clientSecret": "$(cat "$CRM_CLIENT_SECRET_FILE")",
       "api": "crm", "grants": ["client_credentials"]},
      {"clientId": "$DEST_CLIENT_ID", "clientSecret": "$(cat "$DEST_CLIENT_SECRET_FILE")",
       "api": "tx", "grants": ["refresh_token"],
       "refreshToken": "$(cat "$DEST_REFRESH_TOKEN_FILE")"}
    ]
  },
  "rateLimit": $limits,
  "subscriptionKey": {"header": "Ocp-Apim-Subscription-Key",
                      "value": "$(cat "$CRM_SUBSCRIPTION_KEY_FILE")", "apis": ["vendor-crm"]}
}
EOF
    )
}

# env_set NAME VALUE: sets NAME in .run/stack.env, replacing an earlier
# value, under a lock so that replicas started at once keep every line.
env_set() {
    (
        flock 9
        grep -v "^export $1=" "$ENV_FILE" > "$ENV_FILE.tmp" || true
        kv "$1" "$2" >> "$ENV_FILE.tmp"
        mv "$ENV_FILE.tmp" "$ENV_FILE"
    ) 9> "$RUN/stack.env.lock"
}

# metrics_var STAGE N: the stack.env name of that replica's metrics URL.
metrics_var() {
    printf 'METRICS_URL_%s_%s\n' "$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')" "$2"
}

# ------------------------------------------------------------------- kafka

java_opts_tool=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
                "-Dlog4j.configuration=file:$KAFKA_DIR/tools-log4j.properties")

kafka_tool() { java "${java_opts_tool[@]}" -cp "$KAFKA_LIBS/*" "$@"; }

write_kafka_config() {
    mkdir -p "$KAFKA_DIR/data"
    cat > "$KAFKA_DIR/server.properties" <<EOF
# Written by scripts/stack.sh: one node that is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=$TOPIC_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$TOPIC_PARTITIONS
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
    cat > "$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$LOGS/kafka.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
EOF
    cat > "$KAFKA_DIR/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# Formats the storage once; kafka-start after kafka-stop keeps the data.
format_kafka() {
    local id
    [ -f "$KAFKA_DIR/data/meta.properties" ] && return 0
    id=$(python3 -c 'import base64, uuid
print(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())')
    kafka_tool kafka.tools.StorageTool format -t "$id" \
        -c "$KAFKA_DIR/server.properties" > "$LOGS/kafka-format.log" 2>&1 \
        || { show_log kafka-format; die "could not format Kafka's storage"; }
}

kafka_answers() {
    timeout 10 kcat -L -b "$KAFKA_BROKERS" -m 3 2>/dev/null | grep ' 1 brokers:' >/dev/null
}

start_kafka() {
    if running kafka >/dev/null; then
        log "kafka already running"
        return 0
    fi
    [ -f "$KAFKA_LIBS/.complete" ] || die "no Kafka jars in $KAFKA_LIBS: run scripts/setup.sh"
    write_kafka_config
    format_kafka
    start_bg kafka java -Xmx512m -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties"
}

wait_kafka() {
    local deadline=$(( $(date +%s) + KAFKA_START_TIMEOUT ))
    until kafka_answers; do
        if ! running kafka >/dev/null; then
            show_log kafka 30
            die "Kafka exited while starting (logs: $LOGS/kafka.log)"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            show_log kafka 30
            die "Kafka did not answer on $KAFKA_BROKERS within ${KAFKA_START_TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "kafka answers on $KAFKA_BROKERS"
}

# Creates the topics in one JVM and one request (scripts/kafka/CreateTopics.java,
# run as a single-file program): a TopicCommand per topic would start a JVM
# for each.
create_topics() {
    if ! java "${java_opts_tool[@]}" -cp "$KAFKA_LIBS/*" \
            "$ROOT/scripts/kafka/CreateTopics.java" "$KAFKA_BROKERS" \
            "$TOPIC_PARTITIONS" "${TOPICS[@]}" > "$LOGS/topics.log" 2>&1; then
        show_log topics
        die "could not create the topics"
    fi
    rm -f "$LOGS/topics.log"
    log "topics: ${TOPICS[*]} ($TOPIC_PARTITIONS partitions each)"
}

# ------------------------------------------------------------------- redis

start_redis() {
    if running redis >/dev/null; then
        log "redis already running"
        return 0
    fi
    mkdir -p "$RUN/redis"
    start_bg redis redis-server --bind "$HOST" --port "$REDIS_PORT" \
        --dir "$RUN/redis" --appendonly yes --daemonize no --protected-mode yes \
        --save ''
}

wait_redis() {
    local i
    for i in $(seq 1 100); do
        if [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
            log "redis answers on $HOST:$REDIS_PORT"
            return 0
        fi
        running redis >/dev/null || { show_log redis; die "redis exited while starting"; }
        sleep 0.1
    done
    show_log redis
    die "redis did not answer on $HOST:$REDIS_PORT"
}

# ----------------------------------------------------------------- sandbox

start_sandbox() {
    local exe=$BIN/docsync-sandbox
    if [ ! -x "$exe" ]; then
        warn "$exe not built yet; the sandbox is not started"
        return 0
    fi
    if running sandbox >/dev/null; then
        log "sandbox already running"
        return 0
    fi
    mkdir -p "$RUN/sandbox"
    write_sandbox_config
    # In poll mode the CRM sends no webhooks: ingest finds the documents.
    local hooks=(--webhook-url "$WEBHOOK_URL")
    [ "$STACK_PROFILE" = poll ] && hooks=()
    # The secrets go in its environment, where `ps` does not show them.
    SANDBOX_WEBHOOK_SECRET=$(cat "$WEBHOOK_SECRET_FILE") \
    SANDBOX_CRM_API_KEY=$(cat "$CRM_API_KEY_FILE") \
    SANDBOX_DEST_API_KEY=$(cat "$DEST_API_KEY_FILE") \
    start_bg sandbox "$exe" --host "$HOST" --port "$SANDBOX_PORT" \
        --data-dir "$RUN/sandbox" \
        --transactions "$ROOT/scripts/stack/transactions.json" \
        --config "$SANDBOX_CONFIG_FILE" \
        "${hooks[@]}" \
        --signature-header "$WEBHOOK_SIGNATURE_HEADER"
}

# Waits until GET URL answers 200; $3 is the process that must stay alive.
wait_http() {
    local what=$1 url=$2 proc=$3 deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; do
        running "$proc" >/dev/null || { show_log "$proc"; die "$what exited while starting"; }
        if [ "$(date +%s)" -ge "$deadline" ]; then
            show_log "$proc"
            die "$what did not answer 200 on $url within ${HEALTH_TIMEOUT}s"
        fi
        sleep 0.2
    done
    log "$what answers on $url"
}

# ------------------------------------------------------------------ stages

valid_stage() {
    local s
    for s in "${STAGES[@]}"; do
        [ "$s" = "$1" ] && return 0
    done
    die "unknown stage '$1' (one of: ${STAGES[*]})"
}

# Process name of replica $2 of stage $1: "fetcher", "fetcher-2", ...
replica_name() {
    if [ "${2:-1}" = 1 ]; then echo "$1"; else echo "$1-$2"; fi
}

# Starts replica N of a stage with the stack's environment and a free
# METRICS_PORT, recorded in stack.env; sets STARTED_URL to its metrics URL,
# or to nothing when it was running already. Returns 2 when the binary is
# not built yet. A second ingest replica gets its own port.
start_stage() {
    local stage=$1 replica=${2:-1} name exe port mport
    valid_stage "$stage"
    [[ $replica =~ ^[1-9][0-9]*$ ]] || die "replica must be a positive number: '$replica'"
    name=$(replica_name "$stage" "$replica")
    exe=$BIN/docsync-$stage
    if [ ! -x "$exe" ]; then
        warn "$exe not built yet; $name is not started"
        return 2
    fi
    if running "$name" >/dev/null; then
        log "$name already running"
        STARTED_URL=
        return 0
    fi
    mkdir -p "$BLOB_DIR"
    port=$INGEST_PORT
    if [ "$stage" = ingest ] && [ "$replica" != 1 ]; then
        port=$(pick_ports 1)
        log "$name listens on http://$HOST:$port"
    fi
    mport=$(pick_ports 1)
    local wrap=()
    read -r -a wrap <<< "${STAGE_WRAP:-}"
    INGEST_PORT=$port METRICS_HOST=$HOST METRICS_PORT=$mport \
        start_bg "$name" "${wrap[@]}" "$exe"
    env_set "$(metrics_var "$stage" "$replica")" "http://$HOST:$mport"
    STARTED_URL=http://$HOST:$mport
    log "started $name (pid $(cat "$(pidfile "$name")"), log $LOGS/$name.log," \
        "metrics http://$HOST:$mport/metrics)"
}

# Waits until replica $1, whose log grew from byte $3 on, has started: its
# metrics /healthz at $2 answers 200 and its log says it consumes (ingest:
# listens). /healthz alone is not enough: it is served before the stage
# reads its configuration, so a replica with a bad connector or a missing
# secret answers it for a moment and then exits. Exits 1 with the end of
# the log when the replica exits first or HEALTH_TIMEOUT passes.
wait_replica() {
    local name=$1 url=$2 off=$3 deadline
    wait_http "$name metrics" "$url/healthz" "$name"
    deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    until tail -c +"$(( off + 1 ))" "$LOGS/$name.log" 2>/dev/null |
            grep -qE '"msg":"(consuming |listening on port )'; do
        running "$name" >/dev/null || { show_log "$name"; die "$name exited while starting"; }
        if [ "$(date +%s)" -ge "$deadline" ]; then
            show_log "$name"
            die "$name did not start consuming within ${HEALTH_TIMEOUT}s"
        fi
        sleep 0.1
    done
    log "$name is running"
}

# The metrics URL recorded for a replica's pid-file name ("fetcher-2"), or
# nothing.
replica_metrics_url() {
    local stage=${1%%-[0-9]*} replica=1 var
    [ "$stage" != "$1" ] && replica=${1##*-}
    var=$(metrics_var "$stage" "$replica")
    printf '%s\n' "${!var:-}"
}

# Pid-file names of the running or recorded replicas of a stage.
stage_replicas() {
    local f
    for f in "$PIDS/$1.pid" "$PIDS/$1"-[0-9]*.pid; do
        [ -e "$f" ] && basename "$f" .pid
    done
    return 0
}

# ---------------------------------------------------------------- commands

any_running() {
    local f
    for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        running "$(basename "$f" .pid)" >/dev/null && return 0
    done
    return 1
}

# EXIT trap of a failing `up`: leaves no half-started stack behind.
up_failed() {
    local rc=$?
    [ "$rc" -eq 0 ] && return 0
    warn "up failed; stopping what started"
    cmd_down >&2 || true
    exit "$rc"
}

cmd_up() {
    local t0 s started=() missing=()
    t0=$(date +%s)
    if [ -d "$PIDS" ] && any_running; then
        log "already running (see $ENV_FILE, 'scripts/stack.sh status'); nothing done"
        return 0
    fi
    for c in java kcat redis-server redis-cli python3 curl setsid flock; do
        command -v "$c" >/dev/null || die "$c not found: run scripts/setup.sh"
    done

    # A fresh stack every time: state of an earlier run is removed, its logs
    # are kept one generation in .run/logs.prev.
    rm -rf "$RUN/kafka" "$RUN/redis" "$RUN/sandbox" "$RUN/blobs" \
           "$RUN/secrets" "$PIDS" "$RUN/logs.prev"
    [ -d "$LOGS" ] && mv "$LOGS" "$RUN/logs.prev"
    mkdir -p "$LOGS" "$PIDS"
    write_env
    load_env

    # Stop whatever was started if any step fails.
    trap up_failed EXIT

    start_kafka
    start_redis
    start_sandbox
    wait_redis
    wait_kafka
    create_topics

    for s in "${STAGES[@]}"; do
        if start_stage "$s" 1; then
            started+=("$s")
        else
            missing+=("$s")
        fi
    done

    running sandbox >/dev/null && wait_http sandbox "$SANDBOX_URL/healthz" sandbox
    running ingest >/dev/null && wait_http ingest "$INGEST_URL/healthz" ingest
    load_env    # the metrics URLs start_stage recorded
    for s in "${started[@]}"; do
        wait_http "$s metrics" "$(replica_metrics_url "$s")/healthz" "$s"
    done

    # A stage that dies on bad configuration does so at once: look again.
    sleep 1
    for s in "${started[@]}"; do
        running "$s" >/dev/null || { show_log "$s"; die "$s exited after starting"; }
    done

    trap - EXIT
    log "up in $(( $(date +%s) - t0 )) s; settings in $ENV_FILE"
    if [ "${#missing[@]}" -gt 0 ] || ! running sandbox >/dev/null; then
        warn "incomplete stack: not built: ${missing[*]} $(running sandbox \
              >/dev/null || echo sandbox)"
    fi
}

cmd_down() {
    local names=() s n
    if [ ! -d "$PIDS" ]; then
        log "not running"
        return 0
    fi
    # Stages first, so they can drain and commit while Kafka still runs.
    for s in "${STAGES[@]}"; do
        while read -r n; do
            [ -n "$n" ] && names+=("$n")
        done < <(stage_replicas "$s")
    done
    [ "${#names[@]}" -gt 0 ] && stop_procs "${names[@]}"
    stop_procs sandbox
    stop_procs kafka redis
    rm -rf "$PIDS"
    log "down (logs kept in $LOGS)"
}

cmd_status() {
    local ok=0 f n pid s
    if [ ! -f "$ENV_FILE" ] || [ ! -d "$PIDS" ]; then
        log "not running"
        return 1
    fi
    load_env
    for n in kafka redis sandbox; do
        if pid=$(running "$n"); then
            printf '%-12s running  pid %s\n' "$n" "$pid"
        else
            printf '%-12s stopped\n' "$n"
            ok=1
        fi
    done
    # A stage with no replica recorded was stopped, or never built.
    for s in "${STAGES[@]}"; do
        [ -n "$(stage_replicas "$s")" ] && continue
        if [ -x "$BIN/docsync-$s" ]; then
            printf '%-12s stopped\n' "$s"
        else
            printf '%-12s not built\n' "$s"
        fi
        ok=1
    done
    for f in "$PIDS"/*.pid; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .pid)
        case $n in kafka|redis|sandbox) continue ;; esac
        if pid=$(running "$n"); then
            printf '%-12s running  pid %s  metrics %s/metrics\n' "$n" "$pid" \
                "$(replica_metrics_url "$n")"
        else
            printf '%-12s stopped\n' "$n"
            ok=1
        fi
    done
    printf 'KAFKA_BROKERS=%s REDIS=%s:%s\nSANDBOX_URL=%s INGEST_URL=%s\n' \
        "$KAFKA_BROKERS" "$REDIS_HOST" "$REDIS_PORT" "$SANDBOX_URL" "$INGEST_URL"
    return "$ok"
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

main() {
    local cmd=${1:-}
    [ $# -gt 0 ] && shift
    case $cmd in
        up)          cmd_up ;;
        down)        cmd_down ;;
        status)      cmd_status ;;
        start-stage)
            [ $# -ge 1 ] || usage 2
            load_env
            mkdir -p "$LOGS" "$PIDS"
            local stage=$1 replica=${2:-1} kv name off
            shift; [ $# -gt 0 ] && shift
            # Trailing KEY=VALUE words override stack.env for this replica.
            for kv in "$@"; do
                [[ $kv =~ ^[A-Z][A-Z0-9_]*= ]] || die "not KEY=VALUE: '$kv'"
                export "${kv?}"
            done
            name=$(replica_name "$stage" "$replica")
            off=$(stat -c %s "$LOGS/$name.log" 2>/dev/null || echo 0)
            start_stage "$stage" "$replica" || die "$stage not started"
            if [ -n "$STARTED_URL" ]; then
                wait_replica "$name" "$STARTED_URL" "$off"
            fi
            ;;
        stop-stage|kill-stage)
            [ $# -ge 1 ] || usage 2
            valid_stage "$1"
            local names=() n
            if [ $# -ge 2 ]; then
                names=("$(replica_name "$1" "$2")")
            else
                while read -r n; do [ -n "$n" ] && names+=("$n"); done \
                    < <(stage_replicas "$1")
            fi
            [ "${#names[@]}" -gt 0 ] || { log "$1 not running"; return 0; }
            if [ "$cmd" = kill-stage ]; then
                for n in "${names[@]}"; do
                    if pid=$(running "$n"); then
                        kill -KILL "$pid"
                        wait_gone "$pid" 5 || true
                        log "killed $n (pid $pid)"
                    fi
                    rm -f "$(pidfile "$n")"
                done
            else
                stop_procs "${names[@]}"
            fi
            ;;
        kafka-stop)  stop_procs kafka ;;
        kafka-start) load_env; start_kafka; wait_kafka ;;
        redis-stop)  stop_procs redis ;;
        redis-start) load_env; start_redis; wait_redis ;;
        -h|--help|help) usage 0 ;;
        *) usage 2 ;;
    esac
}

main "$@"
