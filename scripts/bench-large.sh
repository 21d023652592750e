#!/usr/bin/env bash
# bench-large.sh - one large file through docsync and through a bare copy.
#
# Starts a fresh local stack with HTTP and poll timeouts long enough for a
# large upload, generates BENCH_SIZE_MB MiB of random bytes once (1024 by
# default; kept in .run/bench/ for the next run), and for each upload mode:
#   docsync  adds the file to the sandbox CRM and times it from submission
#            until Redis says the document is verified; then reads each
#            stage's peak RSS (VmHWM in /proc/PID/status, in KiB);
#   bare     the same bytes through the same sandbox with no Kafka or Redis:
#            a plain GET of the CRM content to a file, then a POST of the
#            body docsync sends (same route, headers and key), streamed.
# Speeds are MiB of the file per second. The last line printed is one JSON
# object:
#   {"modes": {"json_base64": {"docsync_mb_s": x, "bare_mb_s": y,
#    "peak_rss_kib": {"ingest": n, "fetcher": n, "mapper": n,
#                     "uploader": n, "verifier": n}}}}
# A mode is one entry of MODES and one bare_<mode> function in the Python
# part. VmHWM is the peak since a process started: a second mode must run
# on restarted stages (scripts/stack.sh stop-stage, start-stage) for its
# peaks to be its own. BENCH_TIMEOUT (1800 s) bounds the wait for each document. The stack
# is stopped at the end; its logs stay in .run/logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZE_MB=${BENCH_SIZE_MB:-1024}
TIMEOUT=${BENCH_TIMEOUT:-1800}
MODES=(json_base64)
BENCH_DIR=$ROOT/.run/bench
FILE=$BENCH_DIR/random-${SIZE_MB}MiB.bin

[[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_SIZE_MB must be a number" >&2; exit 2; }

# One upload of the whole file may take minutes on a slow disk; a consumer
# must not be taken for dead while its upload runs (poll interval well over
# three times the HTTP timeout).
export HTTP_TIMEOUT_MS=${HTTP_TIMEOUT_MS:-600000}
export KAFKA_MAX_POLL_INTERVAL_MS=${KAFKA_MAX_POLL_INTERVAL_MS:-$(( HTTP_TIMEOUT_MS * 3 + 30000 ))}

mkdir -p "$BENCH_DIR"
if [ "$(stat -c %s "$FILE" 2>/dev/null || echo 0)" != $(( SIZE_MB * 1048576 )) ]; then
    echo "bench: generating $FILE"
    head -c $(( SIZE_MB * 1048576 )) /dev/urandom > "$FILE.tmp"
    mv "$FILE.tmp" "$FILE"
fi

RESULT=$(mktemp)
trap 'scripts/stack.sh down >/dev/null 2>&1 || true; rm -f "$RESULT"' EXIT

scripts/stack.sh down >/dev/null
scripts/stack.sh up
# shellcheck disable=SC1091
. .run/stack.env

python3 - "$FILE" "$TIMEOUT" "$RESULT" "$BENCH_DIR" "${MODES[@]}" <<'PY'
"""Times one file through docsync and through a bare GET and POST."""
import base64
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

FILE, TIMEOUT_S, RESULT, WORK = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
MODES = sys.argv[5:]
STAGES = ["ingest", "fetcher", "mapper", "uploader", "verifier"]
ACCOUNT, TXN = "acc_1001", "txn_5001"
SANDBOX = os.environ["SANDBOX_URL"]
PIDS = os.path.join(os.environ["DOCSYNC_RUN_DIR"], "pids")
REDIS = ["redis-cli", "-h", os.environ["REDIS_HOST"], "-p", os.environ["REDIS_PORT"]]
SIZE = os.path.getsize(FILE)
MIB = 1048576.0
RAW_CHUNK = 3 * 1024 * 1024     # a multiple of 3: no padding mid-file


def secret(name):
    with open(os.environ[name]) as f:
        return f.read().strip()


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SANDBOX + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def redis_state(doc_id):
    out = subprocess.run(REDIS + ["HGET", f"docsync:doc:{doc_id}", "state"],
                         capture_output=True, text=True, timeout=30).stdout
    return out.strip()


def peak_rss():
    """VmHWM of each stage's process, in KiB: the peak of its resident set."""
    peaks = {}
    for stage in STAGES:
        with open(os.path.join(PIDS, stage + ".pid")) as f:
            pid = f.read().strip()
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peaks[stage] = int(line.split()[1])
    return peaks


def run_docsync(mode):
    t0 = time.time()
    reply = admin("POST", "/admin/crm/documents",
                  {"accountId": ACCOUNT, "webhook": True, "path": FILE})
    doc_id = reply["documentId"]
    deadline = t0 + TIMEOUT_S
    while redis_state(doc_id) != "verified":
        if time.time() > deadline:
            sys.exit(f"bench: {mode}: {doc_id} not verified in {TIMEOUT_S:.0f} s "
                     f"(state {redis_state(doc_id)!r})")
        time.sleep(0.2)
    secs = time.time() - t0
    print(f"bench: {mode}: docsync verified {doc_id} in {secs:.1f} s", flush=True)
    return doc_id, secs


def get_content(doc_id, dest):
    """The CRM content, streamed to a file, as the fetcher does."""
    url = urllib.parse.urlsplit(os.environ["CRM_BASE_URL"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    conn.request("GET", f"/api/v1/documents/{doc_id}/content",
                 headers={os.environ["CRM_API_KEY_HEADER"]: secret("CRM_API_KEY_FILE")})
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"bench: bare GET answered {resp.status}")
    with open(dest, "wb") as f:
        while chunk := resp.read(1 << 20):
            f.write(chunk)
    conn.close()


def json_base64_body(doc_id, path):
    """Length and chunks of the body the uploader sends for this mode."""
    fields = {"fileName": os.path.basename(FILE),
              "mimeType": "application/octet-stream",
              "notes": "Uploaded from CRM document " + doc_id,
              "documentDate": time.strftime(os.environ["DEST_DATE_FORMAT"]),
              "sourceDocumentId": doc_id}
    prefix = (json.dumps(fields, separators=(",", ":"))[:-1] + ',"content":"').encode()
    suffix = b'"}'

    def chunks():
        yield prefix
        with open(path, "rb") as f:
            while raw := f.read(RAW_CHUNK):
                yield base64.b64encode(raw)
        yield suffix
    return len(prefix) + (SIZE + 2) // 3 * 4 + len(suffix), chunks()


def bare_json_base64(doc_id, path):
    length, chunks = json_base64_body(doc_id, path)
    url = urllib.parse.urlsplit(os.environ["DEST_BASE_URL"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    conn.putrequest("POST", f"/v1/transactions/{TXN}/documents")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.putheader("Idempotency-Key", f"bench-bare-{doc_id}-{time.time_ns()}")
    conn.putheader(os.environ["DEST_API_KEY_HEADER"], secret("DEST_API_KEY_FILE"))
    conn.endheaders()
    for chunk in chunks:
        conn.send(chunk)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 201:
        sys.exit(f"bench: bare POST answered {resp.status}: {body[:200]!r}")


def run_bare(mode, doc_id):
    path = os.path.join(WORK, "bare.copy")
    t0 = time.time()
    get_content(doc_id, path)
    globals()["bare_" + mode](doc_id, path)
    secs = time.time() - t0
    os.unlink(path)
    print(f"bench: {mode}: bare GET and POST in {secs:.1f} s", flush=True)
    return secs


def main():
    out = {}
    for mode in MODES:
        doc_id, docsync_s = run_docsync(mode)
        rss = peak_rss()
        bare_s = run_bare(mode, doc_id)
        out[mode] = {"docsync_mb_s": round(SIZE / MIB / docsync_s, 1),
                     "bare_mb_s": round(SIZE / MIB / bare_s, 1),
                     "peak_rss_kib": rss}
    with open(RESULT, "w") as f:
        f.write(json.dumps({"modes": out}) + "\n")


main()
PY

scripts/stack.sh down >/dev/null
cat "$RESULT"
