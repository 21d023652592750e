#!/usr/bin/env bash
# run.sh [PATTERN...] - the end-to-end tests against a fresh local stack.
#
# Brings up a new stack (stopping one that already runs), runs every
# tests/e2e/t_*.sh in name order - or those whose names contain one of the
# PATTERNs - each in its own bash process with lib.sh sourced and a time
# bound (E2E_FILE_TIMEOUT, 600 s), then stops the stack. The last line is
# "N passed, N failed"; the exit status is 1 when any check failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E=$ROOT/tests/e2e
FILE_TIMEOUT=${E2E_FILE_TIMEOUT:-600}
cd "$ROOT"

E2E_RESULTS=$(mktemp)
export E2E_RESULTS

# Stops the stack, then prints the summary, so that "N passed, N failed" is
# the last line whatever happened.
finish() {
    local rc=$? failed
    set +e
    failed=$(grep -c '^fail ' "$E2E_RESULTS")
    # The logs are what a failure leaves to read: show their ends first.
    if { [ "$rc" -ne 0 ] || [ "$failed" -gt 0 ]; } && [ -d .run/logs ]; then
        for f in .run/logs/*.log; do
            [ -s "$f" ] || continue
            echo "--- last lines of $f"
            tail -n 15 "$f"
        done
    fi
    scripts/stack.sh down
    if [ "$STARTED" -eq 0 ]; then
        echo "0 passed, 1 failed"
        rc=1
    else
        # shellcheck disable=SC1091
        . "$E2E/lib.sh" && t_summary || rc=1
    fi
    rm -f "$E2E_RESULTS"
    exit "$rc"
}
STARTED=0
trap finish EXIT

# Selected test files, in name order.
files=()
for f in "$E2E"/t_*.sh; do
    [ -e "$f" ] || continue
    if [ $# -eq 0 ]; then
        files+=("$f")
        continue
    fi
    for p in "$@"; do
        case $(basename "$f") in *"$p"*) files+=("$f"); break ;; esac
    done
done
[ "${#files[@]}" -gt 0 ] || { echo "e2e: no test files match: $*"; exit 1; }

# Always a fresh stack: one left running holds another run's state.
scripts/stack.sh down >/dev/null
if ! scripts/stack.sh up; then
    echo "e2e: the stack did not come up"
    exit 1
fi
STARTED=1

for f in "${files[@]}"; do
    name=$(basename "$f")
    echo "### $name"
    t0=$(date +%s)
    set +e
    timeout --kill-after=10 "$FILE_TIMEOUT" \
        bash -c 'set -uo pipefail; . "$1"; . "$2"; exit 0' e2e "$E2E/lib.sh" "$f"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        if [ "$rc" -eq 124 ]; then why="timed out after ${FILE_TIMEOUT}s"
        else why="exited with status $rc"; fi
        echo "FAIL  $name: $why"
        echo "fail $name: $why" >> "$E2E_RESULTS"
    fi
    echo "### $name: $(( $(date +%s) - t0 )) s"
done

