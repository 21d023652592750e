#!/usr/bin/env bash
# setup.sh - install what docsync needs to build, test and run its local stack.
#
# Idempotent: Debian packages are installed only when missing (apt-get update
# runs at most once, and only then), and Apache Kafka's jars are fetched from
# Maven Central once into a cache that later runs reuse:
#   ${DOCSYNC_CACHE:-$HOME/.cache/docsync}/kafka-3.9.1/libs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_VERSION=3.9.1
CACHE=${DOCSYNC_CACHE:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/docsync}
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
POM=$ROOT/scripts/kafka/pom.xml

# Packages the build, the unit tests and the local stack need (valgrind:
# tests/e2e/t_97_memcheck.sh runs two stages under it).
REQUIRED=(build-essential pkg-config librdkafka-dev libcurl4-openssl-dev
          libjansson-dev libhiredis-dev libmicrohttpd-dev libssl-dev
          libcmocka-dev redis-server kcat curl python3 jq maven valgrind)
# Only used to validate docker-compose.yml; its absence is tolerated.
OPTIONAL=(docker-compose)

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# True when the Debian package $1 is installed.
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed' >/dev/null
}

APT_UPDATED=0
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo: install $* by hand"
        sudo=(sudo)
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        "${sudo[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    log "installing: $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@"
}

install_packages() {
    local missing=() p
    for p in "${REQUIRED[@]}"; do
        installed "$p" || missing+=("$p")
    done
    # A JRE for Kafka; any Java 17+ already on the PATH will do.
    if ! command -v java >/dev/null; then
        missing+=(openjdk-17-jre-headless)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi

    for p in "${OPTIONAL[@]}"; do
        if ! installed "$p"; then
            apt_install "$p" || log "warning: could not install $p (optional, skipped)"
        fi
    done
}

check_java() {
    command -v java >/dev/null || die "java not found after installing a JRE"
    local v
    v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
    if [ -z "$v" ] || [ "$v" -lt 17 ]; then
        die "Kafka $KAFKA_VERSION needs Java 17+, found '${v:-?}'"
    fi
}

# The pom's checksum is recorded beside the jars, so that editing the pom
# fetches again while an unchanged pom costs nothing.
fetch_kafka() {
    local stamp=$KAFKA_LIBS/.complete want tmp t0
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "Kafka $KAFKA_VERSION jars cached in $KAFKA_LIBS"
        return
    fi

    log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    t0=$(date +%s)
    mkdir -p "$(dirname "$KAFKA_LIBS")"
    tmp=$(mktemp -d "$(dirname "$KAFKA_LIBS")/libs.tmp.XXXXXX")
    # Fetch into a temporary folder and swap it in only when complete, so an
    # interrupted download never leaves a half-filled cache behind.
    # Debian's Maven 3.8 prints stray colour resets even in batch mode.
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
            | sed 's/\x1b\[[0-9;]*m//g'; then
        rm -rf "$tmp"
        die "maven could not fetch the Kafka jars (see the output above)"
    fi
    for j in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-tools-$KAFKA_VERSION.jar" \
             "kafka-clients-$KAFKA_VERSION.jar"; do
        [ -f "$tmp/$j" ] || { rm -rf "$tmp"; die "$j missing from the fetched jars"; }
    done
    printf '%s\n' "$want" > "$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    rm -rf "$ROOT/scripts/kafka/target"
    log "fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $(( $(date +%s) - t0 )) s"
}

main() {
    local t0
    t0=$(date +%s)
    install_packages
    check_java
    fetch_kafka
    log "ready in $(( $(date +%s) - t0 )) s"
}

main "$@"
