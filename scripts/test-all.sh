#!/usr/bin/env bash
# test-all.sh - what `make test` runs after set-up: lint, the unit tests, the
# sandbox's own checks, the end-to-end tests and the short chaos run, each
# with its own summary, then one closing line that adds them up:
# "total: N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0

make --no-print-directory lint all || exit 1
make --no-print-directory unit 2>&1 | tee -a "$out"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
for suite in tests/sandbox/smoke.sh tests/sandbox/chaos.sh tests/sandbox/strict.sh \
    tests/sandbox/modes.sh; do
    "$suite" 2>&1 | tee -a "$out"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
done
make --no-print-directory e2e 2>&1 | tee -a "$out"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1

# The chaos run counts as one check: its last line is a JSON count, not a
# summary, so the summary is written here. It starts its own stack, which
# moves the end-to-end tests' logs to .run/logs.prev.
echo "### chaos --short"
if scripts/chaos.sh --short 2>&1; then
    echo "1 passed, 0 failed" | tee -a "$out"
else
    echo "chaos: failed; its record is in .run/logs/chaos"
    echo "0 passed, 1 failed" | tee -a "$out"
    rc=1
fi

# Each suite closes on "N passed, N failed"; a suite that died before its
# summary counts as one failure, so the total can never look clean.
summaries=$(grep -cE '^[0-9]+ passed, [0-9]+ failed$' "$out")
read -r passed failed < <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" |
    awk '{p += $1; f += $3} END {print p + 0, f + 0}')
if [ "$summaries" -lt 7 ]; then
    failed=$((failed + 7 - summaries))
    rc=1
fi
[ "$failed" -eq 0 ] || rc=1
echo "total: $passed passed, $failed failed"
exit "$rc"
