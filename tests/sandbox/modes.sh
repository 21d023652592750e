#!/usr/bin/env bash
# modes.sh - starts bin/docsync-sandbox on a free port and checks the
# transaction system's upload modes: JSON with base64, multipart/form-data
# (text fields or a metadata part, filename and filename*, boundaries cut
# by the parser's slices, a preamble and an epilogue, its refusals) and
# chunked upload sessions (parts in order, resends, sizes, expiry,
# completion and its Idempotency-Key, faults), with the per-mode size
# limits, the fileName rules, 415, flat memory for large bodies, and the
# CRM documents without a mimeType. Needs curl, md5sum and python3.
#
#   tests/sandbox/modes.sh            from the repository root
set -u

# shellcheck source=tests/sandbox/lib.sh
. "$(dirname "$0")/lib.sh"

PDF=$SAMPLES/google-doc-document.pdf   # 80 KB: more than one 64 KiB slice
SMALL_PDF=$SAMPLES/habibi.pdf
B=docsync-test-boundary
MP_TYPE="Content-Type: multipart/form-data; boundary=$B"
OCTET="Content-Type: application/octet-stream"
KEY=(-H "X-API-Key: $DEST_KEY")
TXN=/v1/transactions/txn_1001

# answer: the status of the last call and its body, compact.
answer() { echo "$1 $(cat "$WORK/b")"; }

md5_of() { md5sum <"$1" | cut -d' ' -f1; }

size_of() { stat -c %s "$1"; }

# form OUT: writes the multipart body that the JSON on stdin describes:
# {"boundary"?, "preamble"?, "epilogue"?, "close"? (false: no close
# delimiter), "parts":[{"name", "value" | "hex" | "path", "filename"?,
# "filenameStar"?, "type"?} or {"head": raw header lines, ...}]}.
form() {
    python3 -c '
import json, shutil, sys
from urllib.parse import quote
spec = json.load(sys.stdin)
b = spec.get("boundary", "docsync-test-boundary").encode()
def esc(s):
    return s.replace("\\", "\\\\").replace("\"", "\\\"")
with open(sys.argv[1], "wb") as out:
    out.write(spec.get("preamble", "").encode())
    for p in spec["parts"]:
        out.write(b"--" + b + b"\r\n")
        if "head" in p:
            out.write(p["head"].encode("utf-8", "surrogateescape"))
        else:
            d = "form-data; name=\"%s\"" % p["name"]
            if "filename" in p:
                d += "; filename=\"%s\"" % esc(p["filename"])
            if "filenameStar" in p:
                d += "; filename*=UTF-8'"'"''"'"'" + quote(p["filenameStar"], safe="")
            h = "Content-Disposition: " + d + "\r\n"
            if "type" in p:
                h += "Content-Type: " + p["type"] + "\r\n"
            out.write(h.encode())
        out.write(b"\r\n")
        if "path" in p:
            with open(p["path"], "rb") as f:
                shutil.copyfileobj(f, out)
        elif "hex" in p:
            out.write(bytes.fromhex(p["hex"]))
        else:
            out.write(p.get("value", "").encode("utf-8", "surrogateescape"))
        out.write(b"\r\n")
    if spec.get("close", True):
        out.write(b"--" + b + b"--\r\n")
    out.write(spec.get("epilogue", "").encode())
' "$1"
}

# fields SOURCE: the text fields of a form for sourceDocumentId SOURCE, as
# JSON parts without fileName.
fields() {
    printf '{"name":"mimeType","value":"application/pdf"},'
    printf '{"name":"documentDate","value":"2026-12-03"},'
    printf '{"name":"notes","value":"n"},'
    printf '{"name":"sourceDocumentId","value":"%s"}' "$1"
}

# mp_upload FILE [curl args...]: POSTs the multipart body FILE to
# txn_1001; the status, as call.
mp_upload() {
    local f=$1
    shift
    call POST "$TXN/documents" "${KEY[@]}" -H "$MP_TYPE" \
        --data-binary @"$f" "$@"
}

# json_upload FILE [curl args...]: POSTs the JSON body FILE to txn_1001.
json_upload() {
    local f=$1
    shift
    call POST "$TXN/documents" "${KEY[@]}" -H "$JSON_TYPE" \
        --data-binary @"$f" "$@"
}

# doc ID EXPR: EXPR (['md5Checksum']) of GET /v1/documents/ID.
doc() {
    curl -s "${KEY[@]}" "$BASE/v1/documents/$1" | json_field "$2"
}

# listed ID EXPR: EXPR of document ID's record in the admin listing.
listed() {
    curl -s "$BASE/admin/tx/documents" | python3 -c 'import json, sys
d = [x for x in json.load(sys.stdin)["documents"] if x["id"] == sys.argv[1]]
print(eval("d[0]" + sys.argv[2]) if d else "absent")' "$1" "$2"
}

doc_count() {
    curl -s "$BASE/admin/tx/documents" | json_field '["documents"].__len__()'
}

# stray_files: files in the data dir that are no stored document and no
# live session (a body or a file part left behind).
stray_files() {
    find "$WORK/data" -type f ! -name 'tdoc_*' ! -name '.session-*' |
        wc -l
}

config() { curl -s -o /dev/null -X POST "$BASE/admin/config" -d "$1"; }

fault() { curl -s -o /dev/null -X POST "$BASE/admin/faults" -d "$1"; }

test_config() {
    check "upload settings shown with their defaults" \
        "1073741824 2147483648 68719476736 8388608 3600000 255" \
        "$(curl -s "$BASE/admin/config" | python3 -c 'import json, sys
t = json.load(sys.stdin)["tx"]; l = t["limits"]
print(l["json"], l["multipart"], l["chunked"], t["partBytes"],
      t["sessionTtlMs"], t["maxFileNameBytes"])')"
    check "partBytes 0 refused" "400 tx.partBytes" \
        "$(call POST /admin/config -d '{"tx":{"partBytes":0}}') $(
           body '["field"]')"
    check "a negative limit refused" "400 tx.limits.json" \
        "$(call POST /admin/config -d '{"tx":{"limits":{"json":-1}}}') $(
           body '["field"]')"
    config '{"tx":{"limits":{"chunked":5}}}'
    check "a limit set keeps the other defaults" "5 1073741824" \
        "$(curl -s "$BASE/admin/config" | python3 -c 'import json, sys
l = json.load(sys.stdin)["tx"]["limits"]; print(l["chunked"], l["json"])')"
    config '{"tx":{"limits":null}}'
}

test_json_upload() {
    local id
    upload_body g.pdf jm_1 "$PDF" >"$WORK/j.json"
    check "JSON upload of a sample" 201 "$(json_upload "$WORK/j.json")"
    id=$(body '["id"]')
    check "JSON: read back with the same md5 and size" \
        "$(md5_of "$PDF") $(size_of "$PDF")" \
        "$(doc "$id" '["md5Checksum"]') $(doc "$id" '["size"]')"
    check "JSON: uploadMode in the admin listing" json_base64 \
        "$(listed "$id" '["uploadMode"]')"
    check "JSON: uploadMode not in the public document" absent \
        "$(doc "$id" '.get("uploadMode", "absent")')"
    upload_body e.pdf jm_0 /dev/null >"$WORK/e.json"
    check "JSON: a 0-byte file" "201 0 d41d8cd98f00b204e9800998ecf8427e" \
        "$(json_upload "$WORK/e.json") $(doc "$(body '["id"]')" '["size"]') $(
           doc "$(body '["id"]')" '["md5Checksum"]')"
}

test_multipart_upload() {
    local id
    form "$WORK/m1" <<JSON
{"preamble": "This is the preamble.\r\n", "epilogue": "\r\nthe epilogue",
 "parts": [$(fields mp_1), {"name":"fileName","value":"g.pdf"},
           {"name":"unknownField","value":"ignored"},
           {"name":"file","filename":"part.pdf","type":"application/pdf",
            "path":"$PDF"}]}
JSON
    check "multipart upload of a sample" 201 "$(mp_upload "$WORK/m1")"
    id=$(body '["id"]')
    check "multipart: read back with the same md5 and size" \
        "$(md5_of "$PDF") $(size_of "$PDF")" \
        "$(doc "$id" '["md5Checksum"]') $(doc "$id" '["size"]')"
    check "multipart: the stored bytes are the file's" same \
        "$(cmp -s "$PDF" "$WORK/data/$id" && echo same)"
    check "multipart: fields as sent" "g.pdf application/pdf n mp_1" \
        "$(doc "$id" '["fileName"]') $(doc "$id" '["mimeType"]') $(
           doc "$id" '["notes"]') $(doc "$id" '["sourceDocumentId"]')"
    check "multipart: uploadMode and partFileName in the admin listing" \
        "multipart part.pdf" \
        "$(listed "$id" '["uploadMode"]') $(listed "$id" '["partFileName"]')"
    check "multipart: neither in the public document" "absent absent" \
        "$(doc "$id" '.get("uploadMode", "absent")') $(
           doc "$id" '.get("partFileName", "absent")')"
    call GET "/v1/documents/$id" "${KEY[@]}" >/dev/null
    check "multipart: ETag the quoted md5" "\"$(md5_of "$PDF")\"" \
        "$(hdr ETag)"

    # One Idempotency-Key, one fingerprint whatever the mode.
    form "$WORK/mk" <<JSON
{"parts": [$(fields mp_k), {"name":"fileName","value":"k.pdf"},
           {"name":"file","filename":"k.pdf","path":"$SMALL_PDF"}]}
JSON
    mp_upload "$WORK/mk" -H 'Idempotency-Key: mk-1' >/dev/null
    id=$(body '["id"]')
    check "multipart with a key, again: replayed" "201 true $id" \
        "$(mp_upload "$WORK/mk" -H 'Idempotency-Key: mk-1') $(
           hdr Idempotent-Replayed) $(body '["id"]')"
    upload_body k.pdf mp_k "$SMALL_PDF" >"$WORK/mk.json"
    check "the same upload in JSON with the key: replayed" "201 true $id" \
        "$(json_upload "$WORK/mk.json" -H 'Idempotency-Key: mk-1') $(
           hdr Idempotent-Replayed) $(body '["id"]')"
    check "one copy stored" 1 "$(tx_count uploadsBySource mp_k)"
}

# A name with a space, a quote, a backslash and several scripts, sent as
# filename* and read back byte for byte.
NAME='Relevé "final" \ 契約書 عقد №5.pdf'

test_multipart_names() {
    local id name_json
    name_json=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' \
        "$NAME")
    form "$WORK/m2" <<JSON
{"parts": [$(fields mp_2),
           {"name":"file","filename":"ascii-fallback.pdf",
            "filenameStar":$name_json,"type":"application/pdf",
            "path":"$SMALL_PDF"}]}
JSON
    check "multipart: filename* upload" 201 "$(mp_upload "$WORK/m2")"
    id=$(body '["id"]')
    check "multipart: filename* wins and is the fileName, byte-identical" \
        "same same" \
        "$(curl -s "${KEY[@]}" "$BASE/v1/documents/$id" | python3 -c '
import json, sys
want = sys.argv[1].encode()
d = json.loads(sys.stdin.buffer.read())
print("same" if d["fileName"].encode() == want else repr(d["fileName"]),
      "same" if d["mimeType"] == "application/pdf" else d["mimeType"])
' "$NAME")"
    check "multipart: partFileName is the decoded filename*" same \
        "$(listed "$id" '["partFileName"]' | python3 -c 'import sys
print("same" if sys.stdin.read().rstrip("\n") == sys.argv[1] else "differs")
' "$NAME")"

    form "$WORK/m3" <<JSON
{"parts": [$(fields mp_3),
           {"name":"file","filename":$name_json,"path":"$SMALL_PDF",
            "type":"application/pdf"}]}
JSON
    check "multipart: a quoted filename with escapes, no filename*" same \
        "$(mp_upload "$WORK/m3" >/dev/null
           doc "$(body '["id"]')" '["fileName"]' | python3 -c 'import sys
print("same" if sys.stdin.read().rstrip("\n") == sys.argv[1] else "differs")
' "$NAME")"

    form "$WORK/m4" <<JSON
{"parts": [{"name":"metadata","type":"application/json",
            "value":"{\"fileName\":\"meta.pdf\",\"mimeType\":\"application/x-meta\",\"documentDate\":\"2026-12-04\",\"sourceDocumentId\":\"mp_4\",\"notes\":null}"},
           {"name":"fileName","value":"field.pdf"},
           {"name":"file","filename":"part.pdf","type":"application/pdf",
            "path":"$SMALL_PDF"}]}
JSON
    check "multipart: a metadata part" 201 "$(mp_upload "$WORK/m4")"
    id=$(body '["id"]')
    check "multipart: the metadata part's fields win" \
        "meta.pdf application/x-meta 2026-12-04 mp_4 None" \
        "$(doc "$id" '["fileName"]') $(doc "$id" '["mimeType"]') $(
           doc "$id" '["documentDate"]') $(doc "$id" '["sourceDocumentId"]') $(
           doc "$id" '["notes"]')"

    form "$WORK/m5" <<JSON
{"parts": [$(fields mp_5),
           {"name":"file","filename":"from-the-part.pdf",
            "type":"application/pdf","path":"$SMALL_PDF"}]}
JSON
    mp_upload "$WORK/m5" >/dev/null
    id=$(body '["id"]')
    check "multipart: without a fileName field the part's name" \
        "from-the-part.pdf from-the-part.pdf" \
        "$(doc "$id" '["fileName"]') $(listed "$id" '["partFileName"]')"

    form "$WORK/m6" <<JSON
{"parts": [$(fields mp_6), {"name":"fileName","value":"empty.bin"},
           {"name":"file","filename":"empty.bin","hex":""}]}
JSON
    check "multipart: a 0-byte file part is an empty file" \
        "201 0 d41d8cd98f00b204e9800998ecf8427e" \
        "$(mp_upload "$WORK/m6") $(doc "$(body '["id"]')" '["size"]') $(
           doc "$(body '["id"]')" '["md5Checksum"]')"
}

# Bodies whose delimiter, or whose part headers, fall across the edge of
# the parser's 64 KiB slices, with files holding CR LF, "\r\n--" and
# near copies of the delimiter, and ending in CR LF.
test_split_boundaries() {
    local k md5 size ok=0 n=0 got
    python3 - "$WORK/split" "$B" >"$WORK/split.cases" <<'PY'
import hashlib, os, sys
out, b = sys.argv[1], sys.argv[2].encode()
os.makedirs(out, exist_ok=True)
def prefix(k, preamble):
    head = b"".join(
        b"--" + b + b"\r\nContent-Disposition: form-data; name=\"" + n +
        b"\"\r\n\r\n" + v + b"\r\n"
        for n, v in [(b"mimeType", b"application/octet-stream"),
                     (b"documentDate", b"2026-12-03"),
                     (b"sourceDocumentId", b"split_%d" % k)])
    return (preamble + head + b"--" + b + b"\r\nContent-Disposition: "
            b"form-data; name=\"file\"; filename=\"s.bin\"\r\n\r\n")
# Look-alikes: a delimiter cut short, one dash short, one followed by
# other bytes (data, not a delimiter), one without its CR LF.
tricky = (b"\r\n--" + b[:-1] + b"Z" + b"\r\n-" + b + b"\r\n--" + b + b"X" +
          b" --" + b + b"\r\n" + b"\r\n\r\n--\r\n")
tail = b"\r\n--" + b + b"--\r\n"
cases = []
# The closing delimiter at each place across the first slice's edge: the
# parser's window holds a CR LF put in front, then 64 KiB of the body.
for j in range(26):
    n = 65536 - len(prefix(j, b"")) - j
    cases.append((j, b"", os.urandom(n - len(tricky) - 2) + tricky + b"\r\n"))
# The first delimiter and the part headers across the edge: a preamble.
for j in range(26, 40):
    pre = b"p" * (65456 + 6 * (j - 26)) + b"\r\n"
    cases.append((j, pre, tricky + b"\r\n"))
for k, preamble, data in cases:
    with open(os.path.join(out, "%d.body" % k), "wb") as f:
        f.write(prefix(k, preamble) + data + tail)
    print(k, hashlib.md5(data).hexdigest(), len(data))
PY
    while read -r k md5 size; do
        n=$((n + 1))
        mp_upload "$WORK/split/$k.body" >/dev/null
        got="$(doc "$(body '["id"]')" '["md5Checksum"]') $(
               doc "$(body '["id"]')" '["size"]')"
        if [ "$got" = "$md5 $size" ]; then
            ok=$((ok + 1))
        else
            echo "  split case $k: expected $md5 $size, got $got $(cat "$WORK/b")"
        fi
    done <"$WORK/split.cases"
    check "split boundaries and delimiter look-alikes: every file intact" \
        "40 of 40" "$ok of $n"
}

test_multipart_refusals() {
    form "$WORK/r1" <<JSON
{"parts": [$(fields mr_1), {"name":"file","filename":"a","hex":"00"}]}
JSON
    check "multipart: no boundary" \
        '400 {"error":"bad_request","reason":"bad_multipart"}' \
        "$(answer "$(call POST "$TXN/documents" "${KEY[@]}" \
           -H 'Content-Type: multipart/form-data' --data-binary @"$WORK/r1")")"
    check "multipart: a boundary too long to be one" 400 \
        "$(call POST "$TXN/documents" "${KEY[@]}" -H "Content-Type: \
multipart/form-data; boundary=$(printf 'b%.0s' $(seq 71))" \
           --data-binary @"$WORK/r1")"
    form "$WORK/r2" <<JSON
{"close": false,
 "parts": [$(fields mr_2), {"name":"file","filename":"a","hex":"00"}]}
JSON
    check "multipart: no closing delimiter" \
        '400 {"error":"bad_request","reason":"bad_multipart"}' \
        "$(answer "$(mp_upload "$WORK/r2")")"
    head -c 300 "$WORK/m1" >"$WORK/r3"
    check "multipart: a truncated body" "400 bad_multipart" \
        "$(mp_upload "$WORK/r3") $(body '["reason"]')"
    form "$WORK/r4" <<JSON
{"parts": [$(fields mr_4), {"name":"fileName","value":"a"}]}
JSON
    check "multipart: no file part" \
        '400 {"error":"bad_request","reason":"missing_field","field":"file"}' \
        "$(answer "$(mp_upload "$WORK/r4")")"
    form "$WORK/r5" <<JSON
{"parts": [$(fields mr_5), {"name":"file","filename":"a","hex":"00"},
           {"name":"file","filename":"b","hex":"01"}]}
JSON
    check "multipart: two file parts" "400 bad_multipart" \
        "$(mp_upload "$WORK/r5") $(body '["reason"]')"
    form "$WORK/r6" <<JSON
{"parts": [{"name":"mimeType","value":"a/b"},
           {"name":"sourceDocumentId","value":"mr_6"},
           {"name":"file","filename":"a","hex":"00"}]}
JSON
    check "multipart: a required field missing" "400 missing_field documentDate" \
        "$(mp_upload "$WORK/r6") $(body '["reason"]') $(body '["field"]')"
    form "$WORK/r7" <<JSON
{"parts": [$(fields mr_7), {"name":"file","filename":"a","hex":"00",
           "type":"application/octet-stream"},
           {"head":"Content-Disposition: form-data; name=\"fileName\"\r\n",
            "value":"bad-\udcff-utf8"}]}
JSON
    check "multipart: a fileName field that is not UTF-8" \
        "400 bad_field fileName" \
        "$(mp_upload "$WORK/r7") $(body '["reason"]') $(body '["field"]')"
    form "$WORK/r8" <<JSON
{"parts": [$(fields mr_8),
           {"head":"Content-Disposition: form-data; name=\"file\"; filename=\"x\udcfe.pdf\"\r\n",
            "hex":"00"}]}
JSON
    check "multipart: a filename that is not UTF-8" "400 bad_field fileName" \
        "$(mp_upload "$WORK/r8") $(body '["reason"]') $(body '["field"]')"
    check "refused forms store nothing and leave no file" "0 0" \
        "$(curl -s "$BASE/admin/tx/documents" | python3 -c 'import json, sys
print(sum(1 for d in json.load(sys.stdin)["documents"]
          if d["sourceDocumentId"].startswith("mr_")))') $(stray_files)"
}

test_file_names() {
    local long255 long256
    long255=$(printf 'é%.0s' $(seq 127))x
    long256=$(printf 'é%.0s' $(seq 128))
    printf '{"fileName":"%s","mimeType":"a/b","documentDate":"d",' "$long255" \
        >"$WORK/n1.json"
    printf '"sourceDocumentId":"fn_1","content":""}' >>"$WORK/n1.json"
    check "a fileName of 255 bytes is taken" 201 \
        "$(json_upload "$WORK/n1.json")"
    sed "s/$long255/$long256/" "$WORK/n1.json" >"$WORK/n2.json"
    check "a fileName of 256 bytes: file_name_too_long" \
        '400 {"error":"bad_request","reason":"file_name_too_long","field":"fileName"}' \
        "$(answer "$(json_upload "$WORK/n2.json")")"
    form "$WORK/n3" <<JSON
{"parts": [$(fields fn_3), {"name":"fileName","value":"$long256"},
           {"name":"file","filename":"a","hex":"00"}]}
JSON
    check "multipart: file_name_too_long too" "400 file_name_too_long" \
        "$(mp_upload "$WORK/n3") $(body '["reason"]')"
    config '{"tx":{"maxFileNameBytes":300}}'
    check "tx.maxFileNameBytes raises the bound" 201 \
        "$(json_upload "$WORK/n2.json")"
    config '{"tx":{"maxFileNameBytes":null}}'
    sed 's/"fileName":"[^"]*"/"fileName":"a\\u0001b"/' "$WORK/n1.json" \
        >"$WORK/n4.json"
    check "a control character in fileName" \
        '400 {"error":"bad_request","reason":"bad_field","field":"fileName"}' \
        "$(answer "$(json_upload "$WORK/n4.json")")"
    sed 's/"fileName":"[^"]*"/"fileName":"a\\u007fb"/' "$WORK/n1.json" \
        >"$WORK/n5.json"
    check "DEL in fileName" "400 bad_field" \
        "$(json_upload "$WORK/n5.json") $(body '["reason"]')"
    form "$WORK/n6" <<JSON
{"parts": [$(fields fn_6), {"name":"file","filename":"tab\there.pdf",
           "hex":"00"}]}
JSON
    check "multipart: a tab in the part's filename" "400 bad_field fileName" \
        "$(mp_upload "$WORK/n6") $(body '["reason"]') $(body '["field"]')"
    sed 's/"fileName":"[^"]*"/"fileName":""/' "$WORK/n1.json" >"$WORK/n7.json"
    check "an empty fileName" "400 bad_field fileName" \
        "$(json_upload "$WORK/n7.json") $(body '["reason"]') $(
           body '["field"]')"
}

test_media_types() {
    check "415 for another media type" \
        '415 {"error":"unsupported_media_type"}' \
        "$(answer "$(call POST "$TXN/documents" "${KEY[@]}" \
           -H 'Content-Type: text/plain' -d '{}')")"
    check "415 for a form" 415 \
        "$(call POST "$TXN/documents" "${KEY[@]}" -d '{}')"
    check "the media type is case-insensitive" "400 missing_field" \
        "$(call POST "$TXN/documents" "${KEY[@]}" \
           -H 'Content-Type: Application/JSON; charset=utf-8' -d '{}') $(
           body '["reason"]')"
}

# slow_post PATH HEADERS LENGTH SENT: sends a request declaring LENGTH
# bytes, SENT of them, then waits 1 s and sends the rest; prints the
# status and body. Run in the background to look at the data dir during
# the wait.
slow_post() {
    python3 - "$PORT" "$1" "$2" "$3" "$4" "$DEST_KEY" <<'PY'
import socket, sys, time
port, path, headers, length, sent, key = sys.argv[1:]
length, sent = int(length), int(sent)
s = socket.create_connection(("127.0.0.1", int(port)))
s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n%s\r\n"
           "Content-Length: %d\r\nConnection: close\r\n\r\n"
           % (path, key, headers, length)).encode())
s.sendall(b"x" * sent)
time.sleep(1)
s.sendall(b"x" * (length - sent))
r = b""
while chunk := s.recv(65536):
    r += chunk
head, _, body = r.partition(b"\r\n\r\n")
print(head.split()[1].decode(), body.decode())
PY
}

# spilled: the upload bodies being spilled into the data dir right now.
spilled() { find "$WORK/data" -name '.upload-*' | wc -l; }

test_limits() {
    local pid before
    config '{"tx":{"limits":{"json":1000,"multipart":1000,"chunked":1000}}}'
    before=$(doc_count)

    # JSON: a Content-Length over 4 * ceil(1000 / 3) + 64 KiB.
    slow_post "$TXN/documents" "$JSON_TYPE" 70000 20000 >"$WORK/l1" &
    pid=$!
    sleep 0.5
    check "JSON over its limit: the body is not spilled" 0 "$(spilled)"
    wait "$pid"
    check "JSON over its limit by Content-Length: 413 at once" \
        '413 {"error":"payload_too_large","reason":"over_json_limit","limit":1000}' \
        "$(cat "$WORK/l1")"
    slow_post "$TXN/documents" "$JSON_TYPE" 60000 20000 >"$WORK/l1b" &
    pid=$!
    sleep 0.5
    check "a body that may fit is spilled (the check above can fail)" 1 \
        "$(spilled)"
    wait "$pid"

    head -c 1001 /dev/urandom >"$WORK/1001"
    upload_body big.bin lim_j "$WORK/1001" >"$WORK/l2.json"
    check "JSON over its limit once decoded: 413" "413 over_json_limit 1000" \
        "$(json_upload "$WORK/l2.json") $(body '["reason"]') $(
           body '["limit"]')"
    head -c 1000 "$WORK/1001" >"$WORK/1000"
    upload_body big.bin lim_j "$WORK/1000" >"$WORK/l3.json"
    check "JSON at its limit: stored" 201 "$(json_upload "$WORK/l3.json")"

    slow_post "$TXN/documents" "$MP_TYPE" 70000 20000 >"$WORK/l4" &
    pid=$!
    sleep 0.5
    check "multipart over its limit: the body is not spilled" 0 "$(spilled)"
    wait "$pid"
    check "multipart over its limit by Content-Length: 413 at once" \
        '413 {"error":"payload_too_large","reason":"over_multipart_limit","limit":1000}' \
        "$(cat "$WORK/l4")"
    form "$WORK/l5" <<JSON
{"parts": [$(fields lim_m), {"name":"file","filename":"a",
           "path":"$WORK/1001"}]}
JSON
    check "multipart over its limit once decoded: 413" \
        "413 over_multipart_limit" \
        "$(mp_upload "$WORK/l5") $(body '["reason"]')"

    check "chunked over its limit: 413 at the start" \
        '413 {"error":"payload_too_large","reason":"over_chunked_limit","limit":1000}' \
        "$(answer "$(start_session lim_c 1001)")"
    check "over-limit uploads store nothing" "$((before + 1)) 0 0" \
        "$(doc_count) $(stray_files) $(curl -s "$BASE/admin/tx/sessions" |
           json_field '["sessions"].__len__()')"
    config '{"tx":{"limits":null}}'
}

# start_session SOURCE SIZE [curl args...]: starts a session for a file of
# SIZE bytes in txn_1001; the status, as call.
start_session() {
    local s=$1 n=$2
    shift 2
    call POST "$TXN/upload-sessions" "${KEY[@]}" -H "$JSON_TYPE" -d \
        "{\"fileName\":\"c.bin\",\"mimeType\":\"application/octet-stream\",
          \"documentDate\":\"2026-12-03\",\"sourceDocumentId\":\"$s\",
          \"size\":$n}" "$@"
}

# put_part SESSION N FILE [curl args...]: PUTs FILE as part N.
put_part() {
    local s=$1 n=$2 f=$3
    shift 3
    call PUT "/v1/upload-sessions/$s/parts/$n" "${KEY[@]}" -H "$OCTET" \
        --data-binary @"$f" "$@"
}

complete() {
    local s=$1
    shift
    call POST "/v1/upload-sessions/$s/complete" "${KEY[@]}" \
        -H "$JSON_TYPE" -d '{}' "$@"
}

# session_field EXPR: EXPR of the first live session of the admin listing.
session_field() {
    curl -s "$BASE/admin/tx/sessions" | json_field "$1"
}

# cut_parts FILE SIZE: FILE.1, FILE.2, ... of SIZE bytes each.
cut_parts() {
    split -b "$2" -d -a 1 --numeric-suffixes=1 "$1" "$1."
}

test_chunked() {
    local sid id puts
    puts=$(session_field '["partPuts"]')
    config '{"tx":{"partBytes":100000}}'
    head -c 350000 /dev/urandom >"$WORK/c"
    cut_parts "$WORK/c" 100000
    check "session started" "201 100000 4" \
        "$(start_session ch_1 350000) $(body '["partSize"]') $(
           body '["totalParts"]')"
    sid=$(body '["sessionId"]')
    check "session id us_N" yes \
        "$([[ $sid =~ ^us_[0-9]+$ ]] && echo yes)"
    check "expiresAt an hour away, RFC 3339" yes \
        "$(body '["expiresAt"]' | python3 -c 'import sys, time, datetime
t = datetime.datetime.fromisoformat(sys.stdin.read().strip().replace("Z",
    "+00:00")).timestamp()
print("yes" if abs(t - time.time() - 3600) < 60 else t)')"
    check "part out of order" \
        '409 {"error":"conflict","reason":"part_out_of_order","expected":1}' \
        "$(answer "$(put_part "$sid" 2 "$WORK/c.2")")"
    check "part 0" '400 bad_part_number' \
        "$(put_part "$sid" 0 "$WORK/c.1") $(body '["reason"]')"
    check "part 5 of 4" '400 bad_part_number' \
        "$(put_part "$sid" 5 "$WORK/c.1") $(body '["reason"]')"
    check "part x" '400 bad_part_number' \
        "$(put_part "$sid" x "$WORK/c.1") $(body '["reason"]')"
    check "part 1" "200 1 100000 $(md5_of "$WORK/c.1")" \
        "$(put_part "$sid" 1 "$WORK/c.1") $(body '["partNumber"]') $(
           body '["size"]') $(body '["md5"]')"
    check "a part of the wrong size" \
        '400 {"error":"bad_request","reason":"bad_part_size","expected":100000}' \
        "$(answer "$(put_part "$sid" 2 "$WORK/c.4")")"
    check "a part of the wrong size without Content-Length" \
        "400 bad_part_size 100000" \
        "$(put_part "$sid" 2 "$WORK/c.4" -H 'Transfer-Encoding: chunked') $(
           body '["reason"]') $(body '["expected"]')"
    check "part 3 before part 2" "409 2" \
        "$(put_part "$sid" 3 "$WORK/c.3") $(body '["expected"]')"
    put_part "$sid" 2 "$WORK/c.2" >/dev/null
    check "complete with parts missing" \
        '409 {"error":"conflict","reason":"parts_missing","receivedParts":2,"totalParts":4}' \
        "$(answer "$(complete "$sid")")"
    put_part "$sid" 3 "$WORK/c.3" >/dev/null
    check "the last part of the wrong size" "400 50000" \
        "$(put_part "$sid" 4 "$WORK/c.1") $(body '["expected"]')"
    check "the last part" "200 50000" \
        "$(put_part "$sid" 4 "$WORK/c.4") $(body '["size"]')"
    check "a received part sent again is accepted" 200 \
        "$(put_part "$sid" 2 "$WORK/c.2")"
    check "GET the session" \
        "200 $sid txn_1001 350000 100000 4 4" \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}") $(
           body '["sessionId"]') $(body '["transactionId"]') $(
           body '["size"]') $(body '["partSize"]') $(body '["totalParts"]') $(
           body '["receivedParts"]')"
    check "admin: the session, its puts with the resend" "$sid 4 5 False" \
        "$(session_field '["sessions"][0]["sessionId"]') $(
           session_field '["sessions"][0]["receivedParts"]') $(
           session_field '["sessions"][0]["partPuts"]') $(
           session_field '["sessions"][0]["expired"]')"
    check "complete" 201 "$(complete "$sid" -H 'Idempotency-Key: c-1')"
    id=$(body '["id"]')
    check "chunked: read back with the same md5 and size" \
        "$(md5_of "$WORK/c") 350000" \
        "$(doc "$id" '["md5Checksum"]') $(doc "$id" '["size"]')"
    check "chunked: the stored bytes are the file's" same \
        "$(cmp -s "$WORK/c" "$WORK/data/$id" && echo same)"
    check "chunked: uploadMode in the admin listing" chunked \
        "$(listed "$id" '["uploadMode"]')"
    call GET "/v1/documents/$id" "${KEY[@]}" >/dev/null
    check "chunked: ETag the quoted md5" "\"$(md5_of "$WORK/c")\"" \
        "$(hdr ETag)"
    check "the key of a completed session replays its 201" \
        "201 true {\"id\":\"$id\",\"transactionId\":\"txn_1001\"}" \
        "$(complete "$sid" -H 'Idempotency-Key: c-1') $(
           hdr Idempotent-Replayed) $(cat "$WORK/b")"
    check "a second complete without the key" \
        '404 {"error":"not_found","reason":"unknown_session"}' \
        "$(answer "$(complete "$sid")")"
    check "one document, one replay" "1 1" \
        "$(tx_count uploadsBySource ch_1) $(tx_count replaysBySource ch_1)"
    check "admin: the session gone, counted" "0 1 $((puts + 5))" \
        "$(session_field '["sessions"].__len__()') $(
           session_field '["completed"]') $(session_field '["partPuts"]')"
    check "no session file left" 0 \
        "$(find "$WORK/data" -name '.session-*' | wc -l)"

    check "a 0-byte file: 0 parts" "201 0" \
        "$(start_session ch_0 0) $(body '["totalParts"]')"
    sid=$(body '["sessionId"]')
    check "a 0-byte file completes at once" "201 0 d41d8cd98f00b204e9800998ecf8427e" \
        "$(complete "$sid") $(doc "$(body '["id"]')" '["size"]') $(
           doc "$(body '["id"]')" '["md5Checksum"]')"
    check "a part of a 0-part session" "400 bad_part_number" \
        "$(start_session ch_0b 0 >/dev/null
           put_part "$(body '["sessionId"]')" 1 "$WORK/c.4") $(
           body '["reason"]')"
    config '{"tx":{"partBytes":null}}'
}

test_session_refusals() {
    local sid
    check "a session for an unknown transaction" \
        '404 {"error":"not_found","reason":"unknown_transaction"}' \
        "$(answer "$(call POST /v1/transactions/txn_9/upload-sessions \
           "${KEY[@]}" -H "$JSON_TYPE" -d '{}')")"
    check "a session without size" "400 missing_field size" \
        "$(call POST "$TXN/upload-sessions" "${KEY[@]}" -H "$JSON_TYPE" -d \
           '{"fileName":"a","mimeType":"b","documentDate":"c",
             "sourceDocumentId":"d"}') $(body '["reason"]') $(
           body '["field"]')"
    check "a negative size" "400 bad_field size" \
        "$(start_session sr_1 -1) $(body '["reason"]') $(body '["field"]')"
    check "a session without fileName" "400 missing_field fileName" \
        "$(call POST "$TXN/upload-sessions" "${KEY[@]}" -H "$JSON_TYPE" -d \
           '{"mimeType":"b","documentDate":"c","sourceDocumentId":"d",
             "size":1}') $(body '["reason"]') $(body '["field"]')"
    check "a size over 4 GiB is taken" "201 640" \
        "$(start_session sr_2 5368709120) $(body '["totalParts"]')"
    check "session routes want the key" "401 401" \
        "$(call GET "/v1/upload-sessions/$(body '["sessionId"]')") $(
           call POST "$TXN/upload-sessions" -d '{}')"
    check "an unknown session" \
        '404 {"error":"not_found","reason":"unknown_session"}' \
        "$(answer "$(put_part us_999999 1 "$WORK/c.1")")"
    check "GET an unknown session" "404 unknown_session" \
        "$(call GET /v1/upload-sessions/us_999999 "${KEY[@]}") $(
           body '["reason"]')"

    check "Idempotency-Key on start" 201 \
        "$(start_session sr_3 10 -H 'Idempotency-Key: s-1')"
    sid=$(body '["sessionId"]')
    check "the same start again: the same session" "201 true $sid" \
        "$(start_session sr_3 10 -H 'Idempotency-Key: s-1') $(
           hdr Idempotent-Replayed) $(body '["sessionId"]')"
    check "the key with another size" "422 idempotency_key_reused" \
        "$(start_session sr_3 11 -H 'Idempotency-Key: s-1') $(
           body '["reason"]')"

    check "DELETE a session" 204 \
        "$(call DELETE "/v1/upload-sessions/$sid" "${KEY[@]}")"
    check "a deleted session is unknown, its file gone" "404 unknown_session 0" \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}") $(
           body '["reason"]') $(find "$WORK/data" -name ".session-$sid" |
           wc -l)"
}

test_expiry() {
    local sid other
    head -c 100 /dev/urandom >"$WORK/x"
    start_session ex_1 200 >/dev/null
    sid=$(body '["sessionId"]')
    start_session ex_2 200 >/dev/null
    other=$(body '["sessionId"]')
    config '{"tx":{"partBytes":100}}'
    check "the part size is fixed at the start (one part)" "400 200" \
        "$(put_part "$sid" 1 "$WORK/x") $(body '["expected"]')"
    config '{"tx":{"partBytes":null}}'
    check "expire one session" "200 ['$sid']" \
        "$(call POST /admin/tx/sessions/expire -d "{\"sessionId\":\"$sid\"}") $(
           body '["expired"]')"
    check "a part of an expired session" \
        '404 {"error":"not_found","reason":"session_expired"}' \
        "$(answer "$(put_part "$sid" 1 "$WORK/x")")"
    check "GET and complete of an expired session" \
        "404 session_expired 404 session_expired" \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}") $(
           body '["reason"]') $(complete "$sid") $(body '["reason"]')"
    check "an expired session's file is removed" 0 \
        "$(find "$WORK/data" -name ".session-$sid" | wc -l)"
    check "the other session lives on" "200 1" \
        "$(call GET "/v1/upload-sessions/$other" "${KEY[@]}") $(
           find "$WORK/data" -name ".session-$other" | wc -l)"
    check "admin lists both, one expired" "True False" \
        "$(curl -s "$BASE/admin/tx/sessions" | python3 -c 'import json, sys
s = {x["sessionId"]: x for x in json.load(sys.stdin)["sessions"]}
print(s[sys.argv[1]]["expired"], s[sys.argv[2]]["expired"])' "$sid" "$other")"
    check "expire an unknown session" 404 \
        "$(call POST /admin/tx/sessions/expire -d '{"sessionId":"us_0"}')"
    call POST /admin/tx/sessions/expire -d '{}' >/dev/null
    check "expire them all" "404 session_expired" \
        "$(call GET "/v1/upload-sessions/$other" "${KEY[@]}") $(
           body '["reason"]')"
    check "DELETE an expired session" 204 \
        "$(call DELETE "/v1/upload-sessions/$sid" "${KEY[@]}")"
    config '{"tx":{"sessionTtlMs":1000}}'
    start_session ex_3 1 >/dev/null
    sid=$(body '["sessionId"]')
    sleep 1.2
    check "a session expires after tx.sessionTtlMs" "404 session_expired" \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}") $(
           body '["reason"]')"
    config '{"tx":{"sessionTtlMs":null}}'
}

test_session_faults() {
    local sid
    config '{"tx":{"partBytes":65536}}'
    head -c 131072 /dev/urandom >"$WORK/f"
    cut_parts "$WORK/f" 65536
    fault '{"route":"tx_session_start","status":503}'
    check "fault tx_session_start, then a start" "503 201" \
        "$(start_session fa_1 131072) $(start_session fa_1 131072)"
    sid=$(body '["sessionId"]')
    fault '{"route":"tx_session_part","status":503}'
    check "fault tx_session_part 503 once, then the part" "503 200" \
        "$(put_part "$sid" 1 "$WORK/f.1") $(put_part "$sid" 1 "$WORK/f.1")"
    fault '{"route":"tx_session_part","status":401,"afterBody":true}'
    check "a part answered 401 after its whole body" \
        '401 65536 Bearer error="invalid_token"' \
        "$(curl -s -D "$WORK/h.raw" -o "$WORK/b" \
           -w '%{http_code} %{size_upload}' -X PUT "${KEY[@]}" -H "$OCTET" \
           --data-binary @"$WORK/f.2" "$BASE/v1/upload-sessions/$sid/parts/2"
           ) $(tr -d '\r' <"$WORK/h.raw" |
               sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *//p')"
    check "the faulted part is not received" 1 \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}" >/dev/null
           body '["receivedParts"]')"
    put_part "$sid" 2 "$WORK/f.2" >/dev/null
    fault '{"route":"tx_session_get","status":500}'
    check "fault tx_session_get" "500 200" \
        "$(call GET "/v1/upload-sessions/$sid" "${KEY[@]}") $(
           call GET "/v1/upload-sessions/$sid" "${KEY[@]}")"
    fault '{"route":"tx_session_complete","status":502,"count":2}'
    check "fault tx_session_complete twice, then complete" "502 502 201" \
        "$(complete "$sid") $(complete "$sid") $(complete "$sid")"
    check "the faulted session's file is whole" "$(md5_of "$WORK/f")" \
        "$(doc "$(body '["id"]')" '["md5Checksum"]')"
    check "chaos knows the session routes" "0 0 0 0" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
b = json.load(sys.stdin)["byRoute"]
print(*(b[r]["total"] for r in ("tx_session_start", "tx_session_part",
                                "tx_session_complete", "tx_session_get")))')"
    check "a bad fault route is refused" 400 \
        "$(call POST /admin/faults -d '{"route":"tx_session_delete"}')"
    curl -s -o /dev/null -X POST "$BASE/admin/chaos" \
        -d '{"routes":[],"txCorruptRate":1}'
    start_session fa_2 65536 >/dev/null
    sid=$(body '["sessionId"]')
    put_part "$sid" 1 "$WORK/f.1" >/dev/null
    complete "$sid" >/dev/null
    check "chaos corrupts a completed session like an upload" "yes 1 1" \
        "$([ "$(doc "$(body '["id"]')" '["md5Checksum"]')" != \
             "$(md5_of "$WORK/f.1")" ] && echo yes) $(
           tx_count corruptedBySource fa_2) $(curl -s "$BASE/admin/chaos" |
           json_field '["byRoute"]["tx_session_complete"]["corrupted"]')"
    curl -s -o /dev/null -X POST "$BASE/admin/chaos" -d '{}'
    config '{"tx":{"partBytes":null}}'
}

test_strict_modes() {
    config '{"auth":{"tx":{"mode":"oauth2"}}}'
    check "OAuth2 mode: a part with an API key" "401 invalid_token missing" \
        "$(put_part us_1 1 "$WORK/x") $(body '["error"]') $(body '["reason"]')"
    config '{"auth":null,"rateLimit":{"tx":{"requests":1,"windowMs":600000}}}'
    check "the tx rate limit counts session routes" "404 429" \
        "$(call GET /v1/upload-sessions/us_0 "${KEY[@]}") $(
           call GET /v1/upload-sessions/us_0 "${KEY[@]}")"
    config '{"rateLimit":null}'
}

# Peak memory across a 100 MiB multipart upload and a 32 MiB part: the
# parser and the part copy work in slices, so the peak barely moves.
test_flat_memory() {
    local before after sid
    if [ -n "${SANDBOX_WRAP:-}" ]; then
        echo "skip flat memory (SANDBOX_WRAP is set)"
        return
    fi
    head -c $((100 * 1024 * 1024)) /dev/urandom >"$WORK/big"
    form "$WORK/bigform" <<JSON
{"parts": [$(fields fm_1), {"name":"fileName","value":"big.bin"},
           {"name":"file","filename":"big.bin","path":"$WORK/big"}]}
JSON
    before=$(awk '/VmHWM/ {print $2}' "/proc/$SB_PID/status")
    check "a 100 MiB multipart upload" "201 $(md5_of "$WORK/big")" \
        "$(mp_upload "$WORK/bigform") $(doc "$(body '["id"]')" \
           '["md5Checksum"]')"
    config '{"tx":{"partBytes":33554432}}'
    head -c 33554432 "$WORK/big" >"$WORK/part32"
    start_session fm_2 33554432 >/dev/null
    sid=$(body '["sessionId"]')
    check "a 32 MiB part" 200 "$(put_part "$sid" 1 "$WORK/part32")"
    call DELETE "/v1/upload-sessions/$sid" "${KEY[@]}" >/dev/null
    config '{"tx":{"partBytes":null}}'
    after=$(awk '/VmHWM/ {print $2}' "/proc/$SB_PID/status")
    check "peak RSS grew by less than 16 MiB" yes \
        "$([ $((after - before)) -lt 16384 ] && echo yes ||
           echo "no: $before kB -> $after kB")"
    rm -f "$WORK/big" "$WORK/bigform" "$WORK/part32"
}

test_crm_documents() {
    local long id
    check "a CRM document with a null mimeType" 201 \
        "$(call POST /admin/crm/documents -d "{\"accountId\":\"a\",
           \"path\":\"$SMALL_PDF\",\"mimeType\":null,\"webhook\":false}")"
    id=$(body '["documentId"]')
    check "its metadata has mimeType null" "200 None" \
        "$(call GET "/api/v1/documents/$id" -H "X-API-Key: $CRM_KEY") $(
           body '["mimeType"]')"
    check "its content is sent as application/octet-stream" \
        "200 application/octet-stream" \
        "$(call GET "/api/v1/documents/$id/content" \
           -H "X-API-Key: $CRM_KEY") $(hdr Content-Type)"
    check "an absent mimeType is still guessed" application/pdf \
        "$(call POST /admin/crm/documents -d "{\"accountId\":\"a\",
           \"path\":\"$SMALL_PDF\",\"webhook\":false}" >/dev/null
           call GET "/api/v1/documents/$(body '["documentId"]')" \
           -H "X-API-Key: $CRM_KEY" >/dev/null; body '["mimeType"]')"
    long=$(python3 -c 'print(("名前 \"quoted\" \\ " * 80)[:1000])')
    python3 -c 'import json, sys
print(json.dumps({"accountId": "a", "path": sys.argv[1], "webhook": False,
                  "fileName": sys.argv[2]}))' "$SMALL_PDF" "$long" \
        >"$WORK/crm.json"
    check "a CRM fileName of any UTF-8 with quotes, over 1024 bytes" \
        "201 same" \
        "$(call POST /admin/crm/documents --data-binary @"$WORK/crm.json") $(
           curl -s -H "X-API-Key: $CRM_KEY" \
           "$BASE/api/v1/documents/$(body '["documentId"]')" |
           python3 -c 'import json, sys
n = json.load(sys.stdin)["fileName"]
print("same" if n == sys.argv[1] and len(n.encode()) > 1024 else len(n))
' "$long")"
}

test_reset() {
    start_session rs_1 10 >/dev/null
    local before
    before=$(body '["sessionId"]')
    call POST /admin/reset >/dev/null
    check "reset forgets the sessions and their files" "0 0 0 0" \
        "$(session_field '["sessions"].__len__()') $(
           session_field '["partPuts"]') $(session_field '["completed"]') $(
           find "$WORK/data" -name '.session-*' | wc -l)"
    local after
    start_session rs_2 10 >/dev/null
    after=$(body '["sessionId"]')
    check "session ids go on after a reset" yes \
        "$([ "${after#us_}" -gt "${before#us_}" ] && echo yes)"
}

test_stop() {
    local rc
    kill -TERM "$SB_PID"
    wait "$SB_PID"
    rc=$?
    SB_PID=
    check "SIGTERM exits 0" 0 "$rc"
    check "no key in the log" 0 \
        "$(grep -c -e "$CRM_KEY" -e "$DEST_KEY" "$WORK/sandbox.log")"
    check "only JSON lines in the log" 0 \
        "$(grep -vc '^{' "$WORK/sandbox.log")"
    show_stderr
}

start_sandbox
if [ -z "${PORT:-}" ]; then
    echo "FAIL sandbox did not start"
    cat "$WORK/sandbox.log"
    exit 1
fi
test_config
test_flat_memory
test_json_upload
test_multipart_upload
test_multipart_names
test_split_boundaries
test_multipart_refusals
test_file_names
test_media_types
test_limits
test_chunked
test_session_refusals
test_expiry
test_session_faults
test_strict_modes
test_crm_documents
test_reset
test_stop
summary
