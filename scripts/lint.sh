#!/usr/bin/env bash
# lint.sh - fail on C source or header lines wider than 100 columns.
#
# Checks every *.c and *.h file, tracked or untracked (git's ignore rules
# apply), outside build/. Tabs count to the next multiple of 8, as in an
# editor. Prints file:line for each offending line and a one-line summary;
# exits 1 when any line is too wide.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAX=${LINT_MAX_COLUMNS:-100}
cd "$ROOT"

list_sources() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard -- '*.c' '*.h'
    else
        find . -path ./build -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
            -printf '%P\0'
    fi
}

list_sources | python3 -c '
import sys
limit = int(sys.argv[1])
names = sorted(set(n for n in sys.stdin.read().split("\0")
                   if n and not n.startswith("build/")))
checked = bad = 0
for name in names:
    try:
        f = open(name, encoding="utf-8", errors="replace")
    except FileNotFoundError:   # deleted in the work tree, still in the index
        continue
    checked += 1
    with f:
        for number, line in enumerate(f, 1):
            width = len(line.rstrip("\r\n").expandtabs(8))
            if width > limit:
                print(f"{name}:{number}: {width} columns (limit {limit})")
                bad += 1
print(f"lint: {checked} C files checked, {bad} lines over {limit} columns")
sys.exit(1 if bad else 0)
' "$MAX"
