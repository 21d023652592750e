#!/usr/bin/env bash
# lint.sh - fail on C source or header lines wider than 100 columns, on a
# failure reason used in code but missing from common/ds_reason.c, and on a
# reason of that table missing from the README's runbook.
#
# Checks every *.c and *.h file, tracked or untracked (git's ignore rules
# apply), outside build/. Tabs count to the next multiple of 8, as in an
# editor. Prints file:line for each offending line and a one-line summary
# per check; exits 1 when any check fails.
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

# Every reason a failure is given in code must be in the one table of
# reasons (common/ds_reason.c), where its class is decided.
python3 - <<'PY'
import re, subprocess, sys
table = set(re.findall(r'^\s*\{"([a-z0-9_<>]+)",', open("common/ds_reason.c").read(), re.M))
call = re.compile(r'(?:ds_err_(?:set|reset)\(\s*[^,()]+|call_fail\(\s*[^,()]+,\s*[^,()]+),\s*"([a-z0-9_]+)"')
files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                        "common/*.c", "*/*.c", "ctl/*.c"], capture_output=True, text=True).stdout.split()
bad = 0
for name in files:
    if name.startswith(("build/", "tests/")):
        continue
    try:
        text = open(name, encoding="utf-8").read()
    except FileNotFoundError:
        continue
    for m in call.finditer(text):
        if m.group(1) not in table:
            line = text.count("\n", 0, m.start()) + 1
            print(f"{name}:{line}: reason {m.group(1)} is not in common/ds_reason.c")
            bad += 1
print(f"lint: {len(table)} reasons in the table, {bad} unknown reasons used")
sys.exit(1 if bad else 0)
PY

# Every reason of the table is in the README's runbook, as a row of the
# table that `bin/docsyncctl reasons --markdown` prints, so that an
# operator who meets it on the DLQ finds what to do.
python3 - <<'PY'
import re, sys
table = re.findall(r'^\s*\{"([a-z0-9_<>]+)",', open("common/ds_reason.c").read(), re.M)
rows = set(re.findall(r'^\| `([a-z0-9_<>]+)` \|', open("README.md").read(), re.M))
missing = [name for name in table if name not in rows]
for name in missing:
    print(f"README.md: reason {name} is not in the runbook's table "
          "(paste bin/docsyncctl reasons --markdown)")
print(f"lint: {len(table)} reasons in the table, {len(missing)} missing from README.md")
sys.exit(1 if missing else 0)
PY
