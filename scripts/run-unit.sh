#!/usr/bin/env bash
# run-unit.sh BIN... - run cmocka test binaries and count their tests.
#
# Each binary runs on its own under `timeout` (UNIT_TIMEOUT, 60 s), its output
# shown as it comes. Tests are counted from cmocka's summary lines
# "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"; a binary that
# crashes, times out or exits nonzero without reporting a failed test counts
# as one failure. The last line is "N passed, N failed"; exit 1 on any
# failure.
set -euo pipefail

TIMEOUT=${UNIT_TIMEOUT:-60}
passed=0
failed=0
broken=()

if [ $# -eq 0 ]; then
    echo "run-unit: no unit test binaries given"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
    echo "=== $bin"
    if [ ! -x "$bin" ]; then
        echo "run-unit: $bin: not an executable"
        failed=$((failed + 1))
        broken+=("$bin (missing)")
        continue
    fi

    set +e
    CMOCKA_MESSAGE_OUTPUT=STDOUT timeout --kill-after=5 "$TIMEOUT" "$bin" 2>&1 \
        | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e

    p=$(sed -n 's/^\[  PASSED  \] \([0-9]\{1,\}\) test(s)\..*/\1/p' "$out" \
        | awk '{ s += $1 } END { print s + 0 }')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]\{1,\}\) test(s).*/\1/p' "$out" \
        | awk '{ s += $1 } END { print s + 0 }')
    passed=$((passed + p))
    failed=$((failed + f))

    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        case $rc in
            124) why="timed out after ${TIMEOUT}s" ;;
            *)       if [ "$rc" -gt 128 ]; then why="killed by signal $((rc - 128))"
                     else why="exit status $rc"; fi ;;
        esac
        echo "run-unit: $bin: $why without a cmocka failure report"
        failed=$((failed + 1))
        broken+=("$bin ($why)")
    elif [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "run-unit: $bin: no cmocka summary in its output"
        failed=$((failed + 1))
        broken+=("$bin (no summary)")
    elif [ "$f" -gt 0 ]; then
        broken+=("$bin ($f failed)")
    fi
done

if [ "${#broken[@]}" -gt 0 ]; then
    echo "run-unit: failing binaries:"
    printf '  %s\n' "${broken[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
