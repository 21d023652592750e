#!/usr/bin/env bash
# demo.sh - run every file of samples/ through the whole pipeline.
#
# Starts a fresh local stack, adds each sample to the sandbox CRM (spread
# over acc_1001..acc_1003, so over txn_5001..txn_5003), waits up to
# DEMO_TIMEOUT seconds (120) until each document is either in the
# transaction system and verified in Redis, or dead-lettered, prints a
# table, stops the stack, and prints as its very last line
#     {"submitted": N, "verified": V, "dead_lettered": D}
# Exits 0 only when every document is accounted for (V + D == N).
#
# DEMO_PROFILE=strict (make demo-strict) runs the same against the strict
# sandbox: OAuth2 with 30-second tokens and rotating refresh tokens, 20
# requests per second on each API, two replicas of the fetcher and of the
# uploader (scripts/stack.sh, STACK_PROFILE=strict). DEMO_PROFILE=poll (make
# demo-poll) does that with ingest polling the CRM and no webhooks. Both add
# the sandbox's refusal counts to the last line:
#     {"submitted": N, "verified": V, "dead_lettered": D, "modes": {...},
#      "over_limit": 0, "reused_refresh_tokens": 0, "bad_tokens": n}
# and exit 0 only when every document is verified, nothing went over a
# limit and no refresh token was used twice. They send the samples in
# DEMO_ROUNDS rounds (3) DEMO_ROUND_GAP seconds apart (15), so that the
# tokens expire and are refreshed while documents are on their way.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIMEOUT=${DEMO_TIMEOUT:-120}
PROFILE=${DEMO_PROFILE:-apikey}
case $PROFILE in
    apikey|strict|poll) ;;
    *) echo "demo: DEMO_PROFILE must be apikey, strict or poll" >&2; exit 2 ;;
esac
cd "$ROOT"

SUMMARY=$(mktemp)
finish() {
    local rc=$?
    set +e
    scripts/stack.sh down
    if [ -s "$SUMMARY" ]; then
        # The counts decide the exit status, whatever failed before them.
        python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["submitted"] and s["verified"] + s["dead_lettered"] == s["submitted"]
if "over_limit" in s:
    ok = ok and s["verified"] == s["submitted"] and s["over_limit"] == 0 \
        and s["reused_refresh_tokens"] == 0
sys.exit(0 if ok else 1)
' "$SUMMARY"
        rc=$?
        cat "$SUMMARY"
    else
        [ "$rc" -eq 0 ] && rc=1
        echo '{"submitted": 0, "verified": 0, "dead_lettered": 0}'
    fi
    rm -f "$SUMMARY"
    exit "$rc"
}
trap finish EXIT

# A fresh stack: the sandbox numbers documents from doc_1 again, which an
# older Redis would take for documents already done.
scripts/stack.sh down >/dev/null
STACK_PROFILE=$PROFILE scripts/stack.sh up
if [ "$PROFILE" != apikey ]; then
    scripts/stack.sh start-stage fetcher 2
    scripts/stack.sh start-stage uploader 2
fi
# shellcheck disable=SC1091
. .run/stack.env
if [ "$PROFILE" = apikey ]; then
    python3 - "$DOCSYNC_RUN_DIR/demo-connector.json" <<'PY'
import json, sys
c = json.load(open("connectors/sandbox-apikey.json"))
m = c["destination"]["upload"]["modes"]
m["multipart"]["maxBytes"] = 32768
m["json_base64"]["maxBytes"] = 65536
m["chunked"].update({"minBytes": 65537, "partBytes": 65536})
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
    curl -sf --max-time 10 -H 'Content-Type: application/json' \
        --data-binary '{"tx": {"partBytes": 65536}}' "$SANDBOX_URL/admin/config" >/dev/null
    scripts/stack.sh stop-stage uploader >/dev/null
    scripts/stack.sh start-stage uploader 1 \
        CONNECTOR_FILE="$DOCSYNC_RUN_DIR/demo-connector.json" >/dev/null
fi

ROUNDS=${DEMO_ROUNDS:-1}
GAP=${DEMO_ROUND_GAP:-15}
[ "$PROFILE" != apikey ] && ROUNDS=${DEMO_ROUNDS:-3}

python3 - "$TIMEOUT" "$SUMMARY" "$PROFILE" "$ROUNDS" "$GAP" <<'PY'
"""Submits the samples, follows them to verified or the DLQ, prints a table."""
import json
import os
import subprocess
import sys
import time
import urllib.request

TIMEOUT_S = float(sys.argv[1])
SUMMARY = sys.argv[2]
PROFILE = sys.argv[3]
ROUNDS = int(sys.argv[4])
GAP_S = float(sys.argv[5])
ACCOUNTS = ["acc_1001", "acc_1002", "acc_1003"]
SANDBOX = os.environ["SANDBOX_URL"]
REDIS = ["redis-cli", "-h", os.environ["REDIS_HOST"], "-p", os.environ["REDIS_PORT"]]


def now_ms():
    return int(time.time() * 1000)


def http_json(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def mapping():
    with open(os.environ["MAPPING_FILE"]) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    return {a: t for a, t in rows[1:]}


def submit(files):
    docs = []
    for i, name in enumerate(files):
        account = ACCOUNTS[i % len(ACCOUNTS)]
        t0 = now_ms()
        # In poll mode ingest finds the documents by listing the CRM.
        reply = http_json("POST", SANDBOX + "/admin/crm/documents",
                          {"accountId": account, "webhook": PROFILE != "poll",
                           "path": os.path.abspath(os.path.join("samples", name))})
        docs.append({"id": reply["documentId"], "file": name, "account": account,
                     "submitted_ms": t0, "webhooks": reply.get("webhookStatuses", []),
                     "status": "pending", "ms": None, "reason": ""})
    return docs


def redis_states(ids):
    """state and verified_at of each document, by one redis-cli pipeline."""
    if not ids:
        return {}
    cmds = "".join(f"HMGET docsync:doc:{i} state verified_at\n" for i in ids)
    out = subprocess.run(REDIS, input=cmds, capture_output=True, text=True,
                         timeout=30).stdout.split("\n")
    return {i: (out[2 * k], out[2 * k + 1]) for k, i in enumerate(ids)
            if 2 * k + 1 < len(out)}


def dlq_reasons():
    """documentId -> reason, for every record on the DLQ."""
    out = subprocess.run(
        ["kcat", "-C", "-b", os.environ["KAFKA_BROKERS"], "-t", "docsync.dlq",
         "-o", "beginning", "-e", "-q", "-f", "%k\t%h\n"],
        capture_output=True, text=True, timeout=60).stdout
    reasons = {}
    for line in out.splitlines():
        key, _, headers = line.partition("\t")
        reason = ""
        for h in headers.split(","):
            name, _, value = h.partition("=")
            if name.endswith("reason") or (not reason and name.endswith("class")):
                reason = value
        reasons[key] = reason
    return reasons


def poll(docs):
    deadline = time.time() + TIMEOUT_S
    while True:
        pending = [d for d in docs if d["status"] == "pending"]
        if not pending or time.time() >= deadline:
            return
        uploads = http_json("GET", SANDBOX + "/admin/tx/documents")
        uploads = uploads.get("uploadsBySource", {})
        states = redis_states([d["id"] for d in pending])
        dlq = dlq_reasons()
        for d in pending:
            state, verified_at = states.get(d["id"], ("", ""))
            if uploads.get(d["id"], 0) >= 1 and state == "verified":
                d["status"] = "verified"
                done = int(verified_at) if verified_at.isdigit() else now_ms()
                d["ms"] = done - d["submitted_ms"]
            elif d["id"] in dlq:
                d["status"] = "dead-lettered"
                d["reason"] = dlq[d["id"]]
                d["ms"] = now_ms() - d["submitted_ms"]
        time.sleep(0.5)


def upload_modes():
    """sourceDocumentId -> how the transaction system took its copy."""
    listing = http_json("GET", SANDBOX + "/admin/tx/documents")
    return {d.get("sourceDocumentId"): d.get("uploadMode", "")
            for d in listing.get("documents", [])}


def print_table(docs, txn_of, mode_of):
    rows = [("document", "file", "transaction", "mode", "status", "ms")]
    for d in docs:
        status = d["status"] + (f" ({d['reason']})" if d["reason"] else "")
        if d["status"] == "pending" and PROFILE != "poll" and \
                not any(200 <= s < 300 for s in d["webhooks"]):
            status += f" (webhook answered {d['webhooks']})"
        rows.append((d["id"], d["file"], txn_of.get(d["account"], "?"),
                     mode_of.get(d["id"], ""), status,
                     "" if d["ms"] is None else str(d["ms"])))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for n, r in enumerate(rows):
        print("  ".join(v.rjust(w) if c == 5 else v.ljust(w)
                        for c, (v, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main():
    files = sorted(f for f in os.listdir("samples")
                   if f != "README.md" and os.path.isfile(os.path.join("samples", f)))
    t0 = time.time()
    docs = submit(files)
    for r in range(1, ROUNDS):
        print(f"demo: round {r} of {ROUNDS}: {len(files)} documents; next in {GAP_S:.0f} s")
        time.sleep(GAP_S)
        docs += submit(files)
    print(f"demo: submitted {len(docs)} documents; waiting up to {TIMEOUT_S:.0f} s")
    poll(docs)
    mode_of = upload_modes()
    print_table(docs, mapping(), mode_of)
    verified = sum(d["status"] == "verified" for d in docs)
    dead = sum(d["status"] == "dead-lettered" for d in docs)
    print(f"demo: {verified} verified, {dead} dead-lettered, "
          f"{len(docs) - verified - dead} unaccounted for, in {time.time() - t0:.1f} s")
    modes = {}
    for d in docs:
        if d["status"] == "verified" and mode_of.get(d["id"]):
            modes[mode_of[d["id"]]] = modes.get(mode_of[d["id"]], 0) + 1
    summary = {"submitted": len(docs), "verified": verified, "dead_lettered": dead,
               "modes": modes}
    if PROFILE != "apikey":
        refused = http_json("GET", SANDBOX + "/admin/refusals")
        summary.update({"over_limit": refused["overLimit"],
                        "reused_refresh_tokens": refused["reusedRefreshTokens"],
                        "bad_tokens": refused["badTokens"]})
        print(f"demo: the sandbox refused {refused['overLimit']} requests over a "
              f"limit, {refused['reusedRefreshTokens']} reused refresh tokens, "
              f"{refused['badTokens']} stale or unknown access tokens")
    with open(SUMMARY, "w") as f:
        f.write(json.dumps(summary) + "\n")


main()
PY
