#!/usr/bin/env bash
# chaos.sh - starts bin/docsync-sandbox on a free port and checks its chaos
# faults (POST and GET /admin/chaos): the settings and their validation,
# 5xx answers, hangs that end when the client leaves, connections closed
# without an answer (an upload's before its body is read, or after it is
# stored), bursts of 429 with Retry-After, uploads lost or corrupted after
# their 201, the counters, maxInFlight, /admin/reset and a clean stop
# during a hang. Needs curl, base64, md5sum, cmp, python3.
#
#   tests/sandbox/chaos.sh            from the repository root
#   SANDBOX_WRAP="valgrind -q" tests/sandbox/chaos.sh
set -u

# shellcheck source=tests/sandbox/lib.sh
. "$(dirname "$0")/lib.sh"

now_ms() { date +%s%3N; }

# chaos JSON: POST /admin/chaos; prints "<status> <body>".
chaos() { req POST /admin/chaos -d "$1"; }

# chaos_field PATH: a field of GET /admin/chaos, e.g. '["injected"]["5xx"]'.
chaos_field() { curl -s "$BASE/admin/chaos" | json_field "$1"; }

# get_status PATH KEY: the status of a GET, 000 when no answer came.
get_status() {
    curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $2" "$BASE$1"
}

# statuses N PATH KEY: the distinct statuses of N GETs, sorted, with counts
# ("30x404" or "11x500 9x502 10x503").
statuses() {
    for _ in $(seq "$1"); do get_status "$2" "$3"; echo; done |
        sort | uniq -c | awk '{printf "%s%sx%s", sep, $1, $2; sep = " "}'
}

# error_of "<status> <body>": "<status> <error> <reason>".
error_of() {
    python3 -c 'import json, sys
code, body = sys.stdin.read().split(" ", 1); b = json.loads(body)
print(code, b.get("error"), b.get("reason"), b.get("field", "-"))'
}

# log_count PATTERN: log lines since the last reset_sandbox that match
# PATTERN (grep -E).
LOG_MARK=0
log_count() {
    tail -n "+$((LOG_MARK + 1))" "$WORK/sandbox.log" | grep -cE "$1"
}

# reset_sandbox: POST /admin/reset, and log_count starts counting anew.
reset_sandbox() {
    req POST /admin/reset >/dev/null
    LOG_MARK=$(wc -l <"$WORK/sandbox.log")
}

# upload SOURCE KEY [FILE]: uploads FILE (habibi.pdf) for SOURCE to
# txn_1001 with Idempotency-Key KEY; prints "<curl exit> <status> <body>".
upload() {
    local f=$WORK/up-$1.json out rc
    upload_body u.pdf "$1" "${3:-$SAMPLES/habibi.pdf}" >"$f"
    out=$(curl -s -w ' %{http_code}' -H "X-API-Key: $DEST_KEY" \
        -H "Idempotency-Key: $2" -H "$JSON_TYPE" --data-binary @"$f" \
        "$BASE/v1/transactions/txn_1001/documents")
    rc=$?
    echo "$rc ${out##* } ${out% *}"
}

# listed ID FIELD: FIELD of document ID in the admin listing.
listed() {
    curl -s "$BASE/admin/tx/documents" | python3 -c 'import json, sys
d = [x for x in json.load(sys.stdin)["documents"] if x["id"] == sys.argv[1]]
print(d[0].get(sys.argv[2]) if d else "absent")' "$1" "$2"
}

# search_ids SOURCE: ids listed by the transaction search for SOURCE.
search_ids() {
    curl -s -H "X-API-Key: $DEST_KEY" \
        "$BASE/v1/transactions/txn_1001/documents?sourceDocumentId=$1" |
        python3 -c 'import json, sys
print(" ".join(d["id"] for d in json.load(sys.stdin)["documents"]))'
}

test_settings() {
    local full r
    check "chaos is off at start" '* 0.0 0.0 0.0 None 0' \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
d = json.load(sys.stdin); s = d["settings"]
print(s["routes"], s["rate5xx"], s["rateHang"], s["rateReset"],
      s["burst429"], d["injected"]["total"])')"
    full='{"routes":["crm_meta","tx_upload"],"rate5xx":0.05,"rateHang":0.02,'
    full+='"hangMs":20000,"rateReset":0.01,"burst429":{"everyMs":15000,'
    full+='"lengthMs":2000,"retryAfterS":3},"txLoseRate":0.1,'
    full+='"txCorruptRate":0.2,"seed":42}'
    r=$(chaos "$full")
    check "settings as set" "200 $full" "${r%% *} $(echo "${r#* }" |
        json_field '["settings"]' | python3 -c 'import ast, json, sys
print(json.dumps(ast.literal_eval(sys.stdin.read()),
                 separators=(",", ":")))')"
    check "GET shows the settings" "$full" "$(curl -s "$BASE/admin/chaos" |
        python3 -c 'import json, sys
print(json.dumps(json.load(sys.stdin)["settings"], separators=(",", ":")))')"

    while read -r body want; do
        check "refused: $body" "$want" "$(chaos "$body" | error_of)"
    done <<'CASES'
{"rate5xx":1.5} 400 bad_request bad_field rate5xx
{"rateHang":-0.1} 400 bad_request bad_field rateHang
{"txLoseRate":"x"} 400 bad_request bad_field txLoseRate
{"rate500":0.1} 400 bad_request unknown_field rate500
{"routes":["tx_nowhere"]} 400 bad_request bad_field routes
{"routes":"tx_get"} 400 bad_request bad_field routes
{"rate5xx":0.5,"rateHang":0.3,"rateReset":0.3} 400 bad_request rates_over_one rateReset
{"hangMs":600001} 400 bad_request bad_field hangMs
{"burst429":{"everyMs":100}} 400 bad_request missing_field burst429.lengthMs
{"burst429":{"everyMs":100,"lengthMs":200}} 400 bad_request bad_field burst429.lengthMs
{"burst429":{"everyMs":100,"lengthMs":50,"retry":1}} 400 bad_request unknown_field burst429.retry
{"seed":-1} 400 bad_request bad_field seed
[1] 400 bad_request bad_json -
CASES
    check "a refused body leaves the settings" 42 \
        "$(chaos_field '["settings"]["seed"]')"
    r=$(chaos '{}')
    check "{} turns chaos off" '200 * 0.0 0.0 0.0 None 0.0 0.0' \
        "${r%% *} $(echo "${r#* }" | python3 -c 'import json, sys
s = json.load(sys.stdin)["settings"]
print(s["routes"], s["rate5xx"], s["rateHang"], s["rateReset"],
      s["burst429"], s["txLoseRate"], s["txCorruptRate"])')"
}

test_5xx() {
    local r before
    chaos '{"routes":["tx_get"],"rate5xx":1,"seed":1}' >/dev/null
    r=$(statuses 30 /v1/documents/x "$DEST_KEY")
    check "rate5xx 1: only 500, 502, 503" "" \
        "$(echo "$r" | tr ' ' '\n' | grep -vE 'x(500|502|503)$')"
    check "rate5xx 1: several of the three" yes \
        "$([ "$(echo "$r" | wc -w)" -ge 2 ] && echo yes)"
    check "a 5xx has a JSON error body" injected_fault \
        "$(req GET /v1/documents/x -H "X-API-Key: $DEST_KEY" | error_of |
           cut -d' ' -f3)"
    check "counted: injected and byRoute" "31 31 31 0" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
d = json.load(sys.stdin); b = d["byRoute"]
print(d["injected"]["5xx"], d["injected"]["total"], b["tx_get"]["5xx"],
      b["crm_meta"]["total"])')"
    check "routes not named get no chaos" 404 \
        "$(get_status /api/v1/documents/x "$CRM_KEY")"
    check "logged with fault and chaos" 31 \
        "$(log_count '"fault":true,.*"chaos":"5xx"')"

    chaos '{"routes":["tx_get"],"rate5xx":0}' >/dev/null
    check "rate5xx 0: none" 30x404 "$(statuses 30 /v1/documents/x \
                                      "$DEST_KEY")"
    check "a new setting keeps the counts" 31 \
        "$(chaos_field '["injected"]["5xx"]')"

    chaos '{"rate5xx":1}' >/dev/null
    check "routes default to every keyed route" "5 5 5 5" \
        "$(for p in /api/v1/documents/x /api/v1/documents/x/content \
                    /v1/transactions/txn_1001/documents; do
               get_status "$p" "$CRM_KEY" | cut -c1; done | tr -d '\n' |
           sed 's/./& /g; s/ $//') $(req POST \
           /v1/transactions/txn_1001/documents -H "$JSON_TYPE" -d '{}' |
           cut -c1)"
    check "admin routes get no chaos" "200 200" \
        "$(get_status /healthz x) $(get_status /admin/tx/documents x)"

    chaos '{"routes":["tx_get"],"rate5xx":1}' >/dev/null
    before=$(chaos_field '["injected"]["5xx"]')
    req POST /admin/faults -d '{"route":"tx_get","status":418}' >/dev/null
    check "a queued fault wins over chaos" 418 \
        "$(get_status /v1/documents/x "$DEST_KEY")"
    check "and chaos draws nothing for it" "$before" \
        "$(chaos_field '["injected"]["5xx"]')"
    chaos '{}' >/dev/null
}

test_reset() {
    local i r rc stored after= before= pre_rc=
    chaos '{"routes":["tx_get"],"rateReset":1}' >/dev/null
    curl -s -o /dev/null -H "X-API-Key: $DEST_KEY" "$BASE/v1/documents/x"
    check "a reset: no answer at all (curl exit 52)" 52 "$?"
    check "a reset is logged with status 0" 1 \
        "$(log_count '"status":0,.*"fault":true,.*"chaos":"reset"')"

    chaos '{"routes":["tx_upload"],"rateReset":1,"seed":3}' >/dev/null
    for i in $(seq 12); do
        r=$(upload "doc_r$i" "rk$i")
        rc=${r%% *}
        case $rc in 52|55|56) ;; *) pre_rc+=" $i:$rc" ;; esac
        stored=$(tx_count uploadsBySource "doc_r$i")
        if [ "$stored" = 1 ] && [ -z "$after" ]; then after=$i; fi
        if [ "$stored" = 0 ] && [ -z "$before" ]; then before=$i; fi
    done
    check "no upload was answered" "" "$pre_rc"
    check "some resets came after the store, some before" yes \
        "$([ -n "$after" ] && [ -n "$before" ] && echo yes)"
    check "resets counted, the after-store ones apart" \
        "12 $(curl -s "$BASE/admin/tx/documents" | python3 -c 'import json,sys
print(sum(json.load(sys.stdin)["uploadsBySource"].values()))')" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
r = json.load(sys.stdin)["byRoute"]["tx_upload"]
print(r["reset"], r["resetAfterStore"])')"
    check "logged as reset_after_store" \
        "$(chaos_field '["injected"]["resetAfterStore"]')" \
        "$(log_count '"status":0,.*"chaos":"reset_after_store"')"
    [ -n "$after" ] && [ -n "$before" ] || return

    chaos '{}' >/dev/null
    check "the lost answer's upload is found by a search" \
        "$(curl -s "$BASE/admin/tx/documents" | python3 -c 'import json,sys
print(" ".join(d["id"] for d in json.load(sys.stdin)["documents"]
               if d["sourceDocumentId"] == sys.argv[1]))' "doc_r$after")" \
        "$(search_ids "doc_r$after")"
    r=$(idem_post "rk$after" "$WORK/up-doc_r$after.json")
    check "its retry with the same key is replayed" \
        "201 true $(search_ids "doc_r$after")" \
        "$(echo "$r" | cut -d' ' -f1,2) $(echo "${r#* * }" |
           json_field '["id"]')"
    check "stored once, replayed once" "1 1" \
        "$(tx_count uploadsBySource "doc_r$after") $(tx_count \
           replaysBySource "doc_r$after")"
    check "an upload reset before its body: the retry stores it" "201 - 1" \
        "$(idem_post "rk$before" "$WORK/up-doc_r$before.json" |
           cut -d' ' -f1,2) $(tx_count uploadsBySource "doc_r$before")"
}

test_hang() {
    local t0 took r pids=()
    chaos '{"routes":["tx_get"],"rateHang":1,"hangMs":1000}' >/dev/null
    t0=$(now_ms)
    r=$(req GET /v1/documents/x -H "X-API-Key: $DEST_KEY" | error_of)
    took=$(( $(now_ms) - t0 ))
    check "a hang answers 503 after hangMs" \
        "503 unavailable injected_hang - yes" \
        "$r $([ "$took" -ge 1000 ] && echo yes)"

    chaos '{"routes":["tx_get"],"rateHang":1,"hangMs":20000}' >/dev/null
    curl -s -o /dev/null --max-time 0.5 -H "X-API-Key: $DEST_KEY" \
        "$BASE/v1/documents/x"
    check "the client gave up (curl exit 28)" 28 "$?"
    for _ in $(seq 30); do
        [ "$(chaos_field '["inFlight"]["tx_get"]')" = 0 ] && break
        sleep 0.1
    done
    check "a hang ends when its client goes away" "0 1" \
        "$(chaos_field '["inFlight"]["tx_get"]') $(log_count \
           '"status":0,"duration_ms":[0-9]{1,4},"fault":true,"completed":false,"chaos":"hang"')"

    reset_sandbox
    chaos '{"routes":["tx_get"],"rateHang":1,"hangMs":3000}' >/dev/null
    for _ in 1 2 3 4; do
        get_status /v1/documents/x "$DEST_KEY" >/dev/null &
        pids+=("$!")
    done
    for _ in $(seq 25); do
        [ "$(chaos_field '["inFlight"]["tx_get"]')" = 4 ] && break
        sleep 0.1
    done
    check "maxInFlight while four hang" "4 4" \
        "$(chaos_field '["inFlight"]["tx_get"]') $(chaos_field \
           '["maxInFlight"]["tx_get"]')"
    wait "${pids[@]}"
    check "maxInFlight stays after they end" "0 4 0" \
        "$(chaos_field '["inFlight"]["tx_get"]') $(chaos_field \
           '["maxInFlight"]["tx_get"]') $(chaos_field \
           '["maxInFlight"]["crm_meta"]')"
    chaos '{}' >/dev/null
}

test_burst() {
    local t0 first out n429 bad
    chaos '{"routes":["tx_get"],"burst429":{"everyMs":600,"lengthMs":300,
            "retryAfterS":7}}' >/dev/null
    t0=$(now_ms)
    first=$(get_status /v1/documents/x "$DEST_KEY")
    out=$WORK/burst.txt
    : >"$out"
    while [ $(( $(now_ms) - t0 )) -lt 2000 ]; do
        curl -s -o /dev/null -D - -H "X-API-Key: $DEST_KEY" \
            "$BASE/v1/documents/x" | tr -d '\r' |
            awk '/^HTTP/ {s = $2} /^Retry-After:/ {r = $2}
                 END {print s, (r == "" ? "-" : r)}' >>"$out"
        sleep 0.03
    done
    n429=$(grep -c '^429 ' "$out")
    bad=$(grep -vcE '^(429 7|404 -)$' "$out")
    check "no 429 before the first window" 404 "$first"
    check "429 inside the windows, answers between them" yes \
        "$([ "$n429" -gt 0 ] && grep -q '^404' "$out" && echo yes)"
    check "every 429 has Retry-After: 7, others none" 0 "$bad"
    check "429 counted" "$n429" "$(chaos_field '["injected"]["429"]')"
    chaos '{}' >/dev/null
}

test_lost_corrupted() {
    local r id md5 want
    chaos '{"txLoseRate":1}' >/dev/null
    r=$(upload doc_l1 lk1)
    id=$(echo "$r" | cut -d' ' -f3- | json_field '["id"]')
    check "a lost upload is answered 201" 201 "$(echo "$r" | cut -d' ' -f2)"
    check "GET of a lost upload: 404" 404 \
        "$(get_status "/v1/documents/$id" "$DEST_KEY")"
    check "the search leaves it out" "" "$(search_ids doc_l1)"
    check "listed as lost, counted as an upload" "True False 1 1" \
        "$(listed "$id" lost) $(listed "$id" corrupted) $(tx_count \
           uploadsBySource doc_l1) $(tx_count lostBySource doc_l1)"

    chaos '{"txCorruptRate":1}' >/dev/null
    r=$(upload doc_c1 ck1)
    id=$(echo "$r" | cut -d' ' -f3- | json_field '["id"]')
    want=$(md5sum <"$SAMPLES/habibi.pdf" | cut -d' ' -f1)
    r=$(req GET "/v1/documents/$id" -H "X-API-Key: $DEST_KEY" |
        cut -d' ' -f2-)
    md5=$(echo "$r" | json_field '["md5Checksum"]')
    check "a corrupted upload keeps its size" \
        "$(stat -c %s "$SAMPLES/habibi.pdf")" "$(echo "$r" |
                                                 json_field '["size"]')"
    check "its MD5 differs from the one sent" yes \
        "$([ "$md5" != "$want" ] && echo yes)"
    check "one byte of the stored file differs" 1 \
        "$(cmp -l "$SAMPLES/habibi.pdf" "$WORK/data/$id" | wc -l)"
    check "GET reports the stored file's MD5" "$md5" \
        "$(md5sum <"$WORK/data/$id" | cut -d' ' -f1)"
    check "the search lists it with that MD5" "$id $md5" \
        "$(search_ids doc_c1) $(curl -s -H "X-API-Key: $DEST_KEY" \
           "$BASE/v1/transactions/txn_1001/documents?sourceDocumentId=doc_c1" |
           json_field '["documents"][0]["md5Checksum"]')"
    check "listed as corrupted" "False True 1" \
        "$(listed "$id" lost) $(listed "$id" corrupted) $(tx_count \
           corruptedBySource doc_c1)"
    check "its retry with the same key is replayed" "201 true" \
        "$(idem_post ck1 "$WORK/up-doc_c1.json" | cut -d' ' -f1,2)"

    chaos '{}' >/dev/null
    r=$(upload doc_n1 nk1)
    id=$(echo "$r" | cut -d' ' -f3- | json_field '["id"]')
    check "without chaos: kept whole" "False False $want" \
        "$(listed "$id" lost) $(listed "$id" corrupted) $(req GET \
           "/v1/documents/$id" -H "X-API-Key: $DEST_KEY" | cut -d' ' -f2- |
           json_field '["md5Checksum"]')"
    check "lost and corrupted counted" "1 1 1 1" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
d = json.load(sys.stdin); i = d["injected"]; u = d["byRoute"]["tx_upload"]
print(i["lost"], i["corrupted"], u["lost"], u["corrupted"])')"
}

# The counts add up, and each fault has its log line.
test_counts() {
    check "injected is the sum of byRoute; total the sum of kinds" ok \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
d = json.load(sys.stdin); i = d["injected"]; kinds = [k for k in i
    if k not in ("total", "resetAfterStore")]
ok = all(i[k] == sum(r[k] for r in d["byRoute"].values()) for k in i)
ok = ok and i["total"] == sum(i[k] for k in kinds)
print("ok" if ok else d)')"
    check "one log line per fault" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
i = json.load(sys.stdin)["injected"]
print(i["5xx"], i["hang"], i["reset"], i["429"], i["lost"], i["corrupted"])')" \
        "$(for k in 5xx hang 'reset(_after_store)?' 429 lost corrupted; do
               log_count "\"fault\":true,.*\"chaos\":\"$k\"}"; done |
           tr '\n' ' ' | sed 's/ $//')"
}

test_admin_reset() {
    chaos '{"rate5xx":1,"burst429":{"everyMs":1,"lengthMs":1}}' >/dev/null
    check "POST /admin/reset" 200 "$(req POST /admin/reset | cut -d' ' -f1)"
    check "reset turns chaos off and zeroes the counts" \
        "0.0 None 0 0" \
        "$(curl -s "$BASE/admin/chaos" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["settings"]["rate5xx"], d["settings"]["burst429"],
      d["injected"]["total"], sum(d["maxInFlight"].values()))')"
    check "requests answer normally after a reset" 404 \
        "$(get_status /v1/documents/x "$DEST_KEY")"
}

test_stop() {
    local t0 rc pid
    chaos '{"rateHang":1,"hangMs":60000}' >/dev/null
    get_status /v1/documents/x "$DEST_KEY" >"$WORK/hung.status" &
    pid=$!
    for _ in $(seq 50); do
        [ "$(chaos_field '["inFlight"]["tx_get"]')" = 1 ] && break
        sleep 0.1
    done
    t0=$(now_ms)
    kill -TERM "$SB_PID"
    wait "$SB_PID"
    rc=$?
    SB_PID=
    wait "$pid"
    check "SIGTERM during a chaos hang exits 0 at once" "0 yes" \
        "$rc $([ $(( $(now_ms) - t0 )) -lt 5000 ] && echo yes)"
    check "the hung request gets 503" 503 "$(cat "$WORK/hung.status")"
    check "only JSON lines in the log" 0 \
        "$(grep -vc '^{' "$WORK/sandbox.log")"
    show_stderr
}

start_sandbox
test_settings
test_5xx
test_reset
test_hang
test_burst
test_lost_corrupted
test_counts
test_admin_reset
test_stop
summary
