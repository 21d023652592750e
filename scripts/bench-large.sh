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
# Each mode runs on stages restarted with a connector that offers that mode
# alone (connectors/sandbox-apikey.json changed), so that the uploader must
# use it and each stage's VmHWM (its peak since it started) is the mode's
# own. Speeds are MiB of the file per second. The last line printed is one
# JSON object:
#   {"modes": {"json_base64": {"docsync_mb_s": x, "bare_mb_s": y,
#    "peak_rss_kib": {"ingest": n, "fetcher": n, "mapper": n,
#                     "uploader": n, "verifier": n}},
#              "multipart": {...}, "chunked": {...}}}
# A mode is one entry of MODES, one entry of MODE_CONNECTOR and one
# bare_<mode> function in the Python part. BENCH_MODES picks some
# ("multipart chunked"). BENCH_TIMEOUT (1800 s) bounds the wait for each
# document. The stack is stopped at the end; its logs stay in .run/logs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SIZE_MB=${BENCH_SIZE_MB:-1024}
TIMEOUT=${BENCH_TIMEOUT:-1800}
read -r -a MODES <<< "${BENCH_MODES:-json_base64 multipart chunked}"
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
SESSION_ENDPOINTS = {
    "sessionStart": "/v1/transactions/{transactionId}/upload-sessions",
    "sessionPart": "/v1/upload-sessions/{sessionId}/parts/{partNumber}",
    "sessionComplete": "/v1/upload-sessions/{sessionId}/complete",
    "sessionStatus": "/v1/upload-sessions/{sessionId}",
}


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


def mode_connector(mode):
    """A connector offering this mode alone, written next to the file."""
    with open("connectors/sandbox-apikey.json") as f:
        c = json.load(f)
    up = c["destination"]["upload"]
    for key in ("mode", "contentField", "maxBytes", "modes"):
        up.pop(key, None)
    up["modes"] = {mode: {}}
    if mode == "chunked":
        c["destination"]["endpoints"].update(SESSION_ENDPOINTS)
    path = os.path.join(WORK, f"connector-{mode}.json")
    with open(path, "w") as f:
        json.dump(c, f, indent=2)
    return path


def restart_stages(connector):
    """Every stage afresh (so VmHWM is this mode's), on the connector."""
    for stage in STAGES:
        subprocess.run(["scripts/stack.sh", "stop-stage", stage], check=True,
                       stdout=subprocess.DEVNULL)
    for stage in STAGES:
        subprocess.run(["scripts/stack.sh", "start-stage", stage, "1",
                        "CONNECTOR_FILE=" + connector], check=True,
                       stdout=subprocess.DEVNULL)


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


def uploaded_mode(doc_id):
    """How the uploader sent the document, from its log line."""
    logs = os.path.join(os.environ["DOCSYNC_RUN_DIR"], "logs")
    for name in sorted(os.listdir(logs)):
        if not name.startswith("uploader"):
            continue
        with open(os.path.join(logs, name), errors="replace") as f:
            for line in f:
                if '"uploadMode"' not in line:
                    continue
                rec = json.loads(line)
                if rec.get("documentId") == doc_id:
                    return rec.get("uploadMode")
    return None


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


def connect(base):
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=600)


def get_content(doc_id, dest):
    """The CRM content, streamed to a file, as the fetcher does."""
    conn = connect(os.environ["CRM_BASE_URL"])
    conn.request("GET", f"/api/v1/documents/{doc_id}/content",
                 headers={os.environ["CRM_API_KEY_HEADER"]: secret("CRM_API_KEY_FILE")})
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"bench: bare GET answered {resp.status}")
    with open(dest, "wb") as f:
        while chunk := resp.read(1 << 20):
            f.write(chunk)
    conn.close()


def upload_fields(doc_id):
    return {"fileName": os.path.basename(FILE),
            "mimeType": "application/octet-stream",
            "notes": "Uploaded from CRM document " + doc_id,
            "documentDate": time.strftime(os.environ["DEST_DATE_FORMAT"]),
            "sourceDocumentId": doc_id}


def file_chunks(path, offset=0, length=None, encode=False):
    left = SIZE - offset if length is None else length
    with open(path, "rb") as f:
        f.seek(offset)
        while left > 0 and (raw := f.read(min(RAW_CHUNK, left))):
            left -= len(raw)
            yield base64.b64encode(raw) if encode else raw


def post(conn, path, content_type, length, chunks, doc_id, want=(200, 201)):
    """Sends one streamed request on conn; returns the JSON answer."""
    conn.putrequest("POST" if not path.startswith("PUT ") else "PUT",
                    path.removeprefix("PUT "))
    conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(length))
    conn.putheader("Idempotency-Key", f"bench-bare-{doc_id}-{time.time_ns()}")
    conn.putheader(os.environ["DEST_API_KEY_HEADER"], secret("DEST_API_KEY_FILE"))
    conn.endheaders()
    for chunk in chunks:
        conn.send(chunk)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status not in want:
        sys.exit(f"bench: bare {path} answered {resp.status}: {body[:200]!r}")
    return json.loads(body or b"{}")


def bare_json_base64(doc_id, path):
    fields = upload_fields(doc_id)
    prefix = (json.dumps(fields, separators=(",", ":"))[:-1] + ',"content":"').encode()
    suffix = b'"}'

    def chunks():
        yield prefix
        yield from file_chunks(path, encode=True)
        yield suffix
    conn = connect(os.environ["DEST_BASE_URL"])
    post(conn, f"/v1/transactions/{TXN}/documents", "application/json",
         len(prefix) + (SIZE + 2) // 3 * 4 + len(suffix), chunks(), doc_id)
    conn.close()


def bare_multipart(doc_id, path):
    boundary = "bench" + os.urandom(16).hex()
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
        f"{v}\r\n".encode() for k, v in upload_fields(doc_id).items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="{os.path.basename(FILE)}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks():
        yield head
        yield from file_chunks(path)
        yield tail
    conn = connect(os.environ["DEST_BASE_URL"])
    post(conn, f"/v1/transactions/{TXN}/documents",
         f"multipart/form-data; boundary={boundary}",
         len(head) + SIZE + len(tail), chunks(), doc_id)
    conn.close()


def bare_chunked(doc_id, path):
    conn = connect(os.environ["DEST_BASE_URL"])
    start = dict(upload_fields(doc_id), size=SIZE)
    body = json.dumps(start).encode()
    session = post(conn, f"/v1/transactions/{TXN}/upload-sessions",
                   "application/json", len(body), [body], doc_id)
    sid, part = session["sessionId"], session["partSize"]
    for n in range(session["totalParts"]):
        length = min(part, SIZE - n * part)
        post(conn, f"PUT /v1/upload-sessions/{sid}/parts/{n + 1}",
             "application/octet-stream", length,
             file_chunks(path, n * part, length), doc_id)
    post(conn, f"/v1/upload-sessions/{sid}/complete", "application/json", 2,
         [b"{}"], doc_id)
    conn.close()


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
        restart_stages(mode_connector(mode))
        doc_id, docsync_s = run_docsync(mode)
        rss = peak_rss()
        used = uploaded_mode(doc_id)
        if used != mode:
            sys.exit(f"bench: {mode}: the uploader used {used!r}")
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
