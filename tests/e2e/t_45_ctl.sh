# shellcheck shell=bash
# t_45_ctl.sh - docsyncctl, the operators' command, on real DLQ records:
# an account the mapping does not know (mapper, permanent), a one-shot 422
# on the upload (uploader, permanent) and a value that is not JSON. It
# lists them, filters them, shows one, reads the document's state, and
# replays the 422: the document ends verified and uploaded once, a second
# replay is refused, --dry-run changes nothing, and filters replay only
# what they match.

CTL=$E2E_ROOT/bin/docsyncctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ctl ARGS...: runs docsyncctl with the stack's environment; its stdout
# lands in $tmp/out, its stderr in $tmp/err, its exit status in $tmp/rc.
ctl() {
    "$CTL" "$@" > "$tmp/out" 2> "$tmp/err"
    echo $? > "$tmp/rc"
}
out() { cat "$tmp/out"; }
err() { cat "$tmp/err"; }
rc() { cat "$tmp/rc"; }

# line_of DOC_ID: the `dlq list` line (in $tmp/out) of the document.
line_of() { awk -v k="$1" '$8 == k' "$tmp/out"; }

# listed DOC_ID: true when the last output lists the document.
listed() { [ -n "$(line_of "$1")" ]; }

# column N DOC_ID: column N of the document's `dlq list` line.
column() { line_of "$2" | awk -v n="$1" '{ print $n }'; }

# check_listed NAME WANT DOC_ID...: for each document, that the last `dlq
# list` lists it (WANT yes) or leaves it out (WANT no).
check_listed() {
    local name=$1 want=$2 d got what
    shift 2
    what=$([ "$want" = yes ] && echo lists || echo "leaves out")
    for d in "$@"; do
        if listed "$d"; then got=yes; else got=no; fi
        assert_eq "$name $what ${d%_*}" "$want" "$got"
    done
}

# iso MS: epoch milliseconds as docsyncctl prints them.
iso() {
    python3 -c 'import datetime, sys
ms = int(sys.argv[1])
t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
print(t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000))' "$1"
}

# kafka_topic_create NAME: an empty topic of two partitions.
kafka_topic_create() {
    java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        "-Dlog4j.configuration=file:$DOCSYNC_RUN_DIR/kafka/tools-log4j.properties" \
        -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$KAFKA_BROKERS" --create --topic "$1" \
        --partitions 2 --replication-factor 1 > "$tmp/topic.log" 2>&1
}

# consumer_groups: the groups the broker knows, one a line.
consumer_groups() {
    java -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        "-Dlog4j.configuration=file:$DOCSYNC_RUN_DIR/kafka/tools-log4j.properties" \
        -cp "$KAFKA_HOME/libs/*" \
        org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
        --bootstrap-server "$KAFKA_BROKERS" --list 2>/dev/null
}

# --- the command line
ctl --version
assert_eq "--version names the command" "docsyncctl" "$(out | cut -d' ' -f1)"
ctl dlq replay
assert_eq "replay without --at, filters or --all is a usage error (2)" 2 "$(rc)"
err | grep -q -- '--all' && t_pass "replay without a selection says how to select" \
    || t_fail "replay without a selection says how to select" "$(err)"

# --- three records on the DLQ, the 422 at least 2 s after the others, so
# that a time between them tells them apart.
unm=$(uniq_id t45_unm)
sandbox_add_doc acc_9999 samples/image.jpg "{\"documentId\":\"$unm\"}" >/dev/null
wrap=$(uniq_id t45_wrap)
printf 'not json' | kcat -P -b "$KAFKA_BROKERS" -t docsync.events -k "$wrap"
wait_until 30 dlq_has "$unm"
wait_until 30 dlq_has "$wrap"
sleep 2
sandbox_fault '{"route":"tx_upload","count":1,"status":422,"body":"{\"error\":\"bad_notes\"}"}' \
    || t_fail "the sandbox arms a 422 on the next upload" "POST /admin/faults failed"
bad=$(uniq_id t45_422)
sandbox_add_doc acc_1001 samples/minimal-document.pdf "{\"documentId\":\"$bad\"}" >/dev/null
wait_until 30 dlq_has "$bad"
bad_rec=$(dlq_json "$bad" | tail -n 1)
unm_rec=$(dlq_json "$unm" | tail -n 1)
wrap_rec=$(dlq_json "$wrap" | tail -n 1)
assert_eq "the 422 document is dead-lettered by the uploader" upload_http_422 \
    "$(record_header "$bad_rec" docsync.reason)"
bad_at=$(echo "$bad_rec" | json_get partition):$(echo "$bad_rec" | json_get offset)
unm_at=$(echo "$unm_rec" | json_get partition):$(echo "$unm_rec" | json_get offset)
wrap_at=$(echo "$wrap_rec" | json_get partition):$(echo "$wrap_rec" | json_get offset)
bad_last=$(record_header "$bad_rec" docsync.last_failure)
unm_last=$(record_header "$unm_rec" docsync.last_failure)
wait_until 10 doc_state_is "$bad" failed

# --- list: one line per record, the columns from the headers
total=$(topic_records docsync.dlq '%o\n' | grep -c .)
ctl dlq list
assert_eq "list exits 0" 0 "$(rc)"
assert_eq "list prints one line per DLQ record" "$total" "$(out | grep -c .)"
assert_eq "list: the 422's position is its partition:offset" "$bad_at" "$(column 1 "$bad")"
assert_eq "list: the 422's time is its last failure in ISO-8601" "$(iso "$bad_last")" \
    "$(column 2 "$bad")"
assert_eq "list: the 422's stage" uploader "$(column 3 "$bad")"
assert_eq "list: the 422's reason" upload_http_422 "$(column 4 "$bad")"
assert_eq "list: the 422's class" permanent "$(column 5 "$bad")"
assert_eq "list: the 422's attempts" 1 "$(column 6 "$bad")"
assert_eq "list: the 422's HTTP status" 422 "$(column 7 "$bad")"
assert_eq "list: the unmapped account's line" \
    "$unm_at $(iso "$unm_last") mapper unmapped_account permanent 1 -" \
    "$(line_of "$unm" | awk '{ print $1, $2, $3, $4, $5, $6, $7 }')"
err | grep -q "selected of $total records on docsync.dlq" \
    && t_pass "list counts on stderr, not in the output" \
    || t_fail "list counts on stderr, not in the output" "$(err)"

ctl dlq list --json
python3 - "$tmp/out" "$bad" "$bad_at" "$total" <<'PY' \
    && t_pass "list --json: one JSON object per record, headers, key and value" \
    || t_fail "list --json: one JSON object per record, headers, key and value" \
              "$(out | head -c 400)"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
recs = [json.loads(l) for l in lines]
assert len(recs) == int(sys.argv[4]), len(recs)
mine = [r for r in recs if r["key"] == sys.argv[2]]
assert len(mine) == 1, mine
r = mine[0]
assert "%d:%d" % (r["partition"], r["offset"]) == sys.argv[3], r
assert r["headers"]["docsync.reason"] == "upload_http_422", r["headers"]
assert r["headers"]["__connect.errors.topic"] == "docsync.mapped", r["headers"]
assert r["value"]["documentId"] == sys.argv[2], r["value"]
PY

# --- each filter, and filters together
ctl dlq list --reason unmapped_account
check_listed "--reason unmapped_account" yes "$unm"
check_listed "--reason unmapped_account" no "$bad" "$wrap"
assert_eq "--reason: every line has that reason" "" \
    "$(awk '$4 != "unmapped_account"' "$tmp/out")"
ctl dlq list --stage uploader
check_listed "--stage uploader" yes "$bad"
check_listed "--stage uploader" no "$unm" "$wrap"
ctl dlq list --class permanent
check_listed "--class permanent" yes "$bad" "$unm" "$wrap"
ctl dlq list --class transient
check_listed "--class transient" no "$bad" "$unm" "$wrap"
assert_eq "--class transient: every line is transient" "" "$(awk '$5 != "transient"' "$tmp/out")"
ctl dlq list --document "$bad"
assert_eq "--document: exactly the document's record" "$bad" "$(out | awk '{ print $8 }')"
ctl dlq list --since 10m
check_listed "--since 10m" yes "$bad" "$unm"
ctl dlq list --until 10m
check_listed "--until 10m" no "$bad" "$unm"
mid=$(python3 -c 'import datetime, sys
s = (int(sys.argv[1]) + int(sys.argv[2])) // 2000
print(datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' \
    "$unm_last" "$bad_last")
ctl dlq list --since "$mid"
check_listed "--since $mid (ISO, between the failures)" yes "$bad"
check_listed "--since $mid (ISO, between the failures)" no "$unm"
ctl dlq list --until "$mid"
check_listed "--until $mid" yes "$unm"
check_listed "--until $mid" no "$bad"
ctl dlq list --reason upload_http_422 --stage mapper
check_listed "--reason upload_http_422 --stage mapper (AND)" no "$bad" "$unm"
ctl dlq list --stage uploader --class permanent --since "$mid" --document "$bad"
check_listed "four filters at once" yes "$bad"
ctl dlq list --class sometimes
assert_eq "--class sometimes is a usage error" 2 "$(rc)"
ctl dlq list --since yesterday
assert_eq "--since yesterday is a usage error" 2 "$(rc)"

# --- a missing or empty DLQ ends with a message, a bound on the wait
t0=$(date +%s)
ctl --dlq-topic t45.no_such_topic dlq list
assert_eq "a missing topic: exit 0" 0 "$(rc)"
assert_eq "a missing topic: nothing listed" "" "$(out)"
err | grep -q "t45.no_such_topic does not exist" && t_pass "a missing topic is named as such" \
    || t_fail "a missing topic is named as such" "$(err)"
[ $(( $(date +%s) - t0 )) -le 15 ] && t_pass "a missing topic is reported within 15 s" \
    || t_fail "a missing topic is reported within 15 s" "took $(( $(date +%s) - t0 )) s"
if kafka_topic_create t45.empty_dlq; then
    ctl --dlq-topic t45.empty_dlq dlq list
    assert_eq "an empty topic: exit 0, nothing listed" "0:" "$(rc):$(out)"
    err | grep -q "t45.empty_dlq is empty" && t_pass "an empty topic is named as such" \
        || t_fail "an empty topic is named as such" "$(err)"
else
    t_fail "an empty topic for the test" "$(tail -n 3 "$tmp/topic.log")"
fi
groups=$(consumer_groups)
if echo "$groups" | grep -qx docsync-fetcher && ! echo "$groups" | grep -qi docsyncctl; then
    t_pass "docsyncctl reads without a consumer group (the stages' groups are listed)"
else
    t_fail "docsyncctl reads without a consumer group (the stages' groups are listed)" \
        "groups: $(echo "$groups" | paste -sd' ')"
fi

# --- show: every header, the value pretty-printed
ctl dlq show --at "$bad_at"
assert_eq "show --at exits 0" 0 "$(rc)"
missing=""
for h in $(echo "$bad_rec" | python3 -c 'import json, sys
print(" ".join(json.loads(sys.stdin.read())["headers"][0::2]))'); do
    out | grep -q "^  $h " || missing="$missing $h"
done
assert_eq "show prints every header of the record" "" "$missing"
out | grep -q "^  docsync.reason  *upload_http_422$" && t_pass "show: docsync.reason's value" \
    || t_fail "show: docsync.reason's value" "$(out | head -n 20)"
out | grep -q "^  \"documentId\": \"$bad\",$" && t_pass "show pretty-prints the value" \
    || t_fail "show pretty-prints the value" "$(out | tail -n 12)"
ctl dlq show --at 0:99999999
assert_eq "show of a position with no record exits 1" 1 "$(rc)"
err | grep -q "no record at 0:99999999" && t_pass "show names the missing position" \
    || t_fail "show names the missing position" "$(err)"
ctl dlq show
assert_eq "show without a selection is a usage error" 2 "$(rc)"

# --- status: the state and the timeline in Redis
ctl status "$bad"
assert_eq "status exits 0" 0 "$(rc)"
assert_eq "status: the state is failed" failed "$(out | awk '$1 == "state" { print $2 }')"
out | grep -Eq '^  [0-9T:.-]+Z  uploader +failed +upload_http_422$' \
    && t_pass "status: the timeline shows the failed stage and reason" \
    || t_fail "status: the timeline shows the failed stage and reason" "$(out)"
ctl status "$bad" --json
python3 - "$tmp/out" <<'PY' && t_pass "status --json: state, times and timeline" \
    || t_fail "status --json: state, times and timeline" "$(out | head -c 400)"
import json, re, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "failed", d
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["times"]["failed_at"]), d
assert {"stage": "uploader", "state": "failed", "detail": "upload_http_422"}.items() \
    <= d["timeline"][-1].items(), d["timeline"]
PY
ctl status "$(uniq_id t45_never)"
assert_eq "status of an unknown document exits 1" 1 "$(rc)"
err | grep -q "holds nothing" && t_pass "status says Redis holds nothing for it" \
    || t_fail "status says Redis holds nothing for it" "$(err)"

# --- replay --dry-run changes nothing
mapped_before=$(topic_key_count docsync.mapped "$bad")
fetched_unm=$(topic_key_count docsync.fetched "$unm")
ctl dlq replay --document "$bad" --dry-run
assert_eq "--dry-run exits 0" 0 "$(rc)"
out | grep -qx "would replay $bad_at $bad to docsync.mapped" \
    && t_pass "--dry-run says what it would replay, and where" \
    || t_fail "--dry-run says what it would replay, and where" "$(out)"
assert_eq "--dry-run's summary" "dry run: would replay 1, skip 0, fail 0; nothing was changed" \
    "$(out | tail -n 1)"
sleep 2
assert_eq "--dry-run: nothing produced to docsync.mapped" "$mapped_before" \
    "$(topic_key_count docsync.mapped "$bad")"
assert_eq "--dry-run: the document is still failed" failed "$(doc_state "$bad")"
assert_eq "--dry-run: no replay remembered" 0 \
    "$(redis_cmd EXISTS "docsync:replayed:docsync.dlq:$bad_at")"
assert_eq "--dry-run: nothing uploaded" 0 "$(uploads_of "$bad")"

# --- replay by filters: only what they match
ctl dlq replay --stage uploader --since "$mid"
assert_eq "replay by filters exits 0" 0 "$(rc)"
assert_eq "replay by filters replays the 422 record only" \
    "replayed $bad_at $bad to docsync.mapped|replayed 1, skipped 0, failed 0" \
    "$(out | paste -sd'|')"
wait_until 30 doc_state_is "$bad" verified
assert_eq "the replayed document ends verified" verified "$(doc_state "$bad")"
assert_eq "the replayed document is uploaded exactly once" 1 "$(uploads_of "$bad")"
assert_eq "the record went back to docsync.mapped once" $((mapped_before + 1)) \
    "$(topic_key_count docsync.mapped "$bad")"
replayed_rec=$(timeout 30 kcat -C -b "$KAFKA_BROKERS" -t docsync.mapped -o beginning -e -q -J \
    | python3 -c 'import json, sys
recs = [l for l in sys.stdin if json.loads(l).get("key") == sys.argv[1]]
print(recs[-1].strip() if recs else "")' "$bad")
assert_eq "the replayed record says where it came from" "$bad_at" \
    "$(record_header "$replayed_rec" docsync.replayed_from)"
assert_eq "the replayed record keeps the trace id" \
    "$(record_header "$bad_rec" docsync.trace_id)" \
    "$(record_header "$replayed_rec" docsync.trace_id)"
assert_eq "the timeline has docsyncctl's replay with the reason" 1 \
    "$(doc_timeline "$bad" | grep -c ':docsyncctl:replayed:upload_http_422$')"
ttl=$(redis_cmd TTL "docsync:replayed:docsync.dlq:$bad_at")
[[ $ttl =~ ^[0-9]+$ ]] && [ "$ttl" -gt $((30 * 86400 - 600)) ] && [ "$ttl" -le $((30 * 86400)) ] \
    && t_pass "the replay is remembered for 30 days" \
    || t_fail "the replay is remembered for 30 days" "TTL $ttl"
assert_eq "the filters left the unmapped account alone: still failed" failed "$(doc_state "$unm")"
assert_eq "the filters left the unmapped account alone: not produced" "$fetched_unm" \
    "$(topic_key_count docsync.fetched "$unm")"
assert_eq "the filters left the unmapped account alone: no replay mark" 0 \
    "$(redis_cmd EXISTS "docsync:replayed:docsync.dlq:$unm_at")"

# --- the same DLQ record again: refused, unless --force
ctl dlq replay --at "$bad_at"
assert_eq "a second replay exits 0 (a refusal is not a failure)" 0 "$(rc)"
out | grep -q "^skipped $bad_at $bad: already replayed at .*--force" \
    && t_pass "a second replay of the same record is refused, naming --force" \
    || t_fail "a second replay of the same record is refused, naming --force" "$(out)"
assert_eq "the refusal's summary" "replayed 0, skipped 1, failed 0" "$(out | tail -n 1)"
sleep 2
assert_eq "the refusal produced nothing" $((mapped_before + 1)) \
    "$(topic_key_count docsync.mapped "$bad")"
ctl dlq replay --at "$bad_at" --force
assert_eq "--force replays it again" "replayed 1, skipped 0, failed 0" "$(out | tail -n 1)"
verified_twice() { [ "$(doc_timeline "$bad" | grep -c ':verifier:verified:')" = 2 ]; }
wait_until 30 verified_twice
assert_eq "after --force the document runs through and is verified again" \
    "2 replays, 2 verifications, state verified" \
    "$(doc_timeline "$bad" | grep -c ':docsyncctl:replayed:') replays, $(doc_timeline "$bad" \
        | grep -c ':verifier:verified:') verifications, state $(doc_state "$bad")"
assert_eq "after --force it is still uploaded exactly once" 1 "$(uploads_of "$bad")"

# --- what cannot be replayed, and what is not there
events_wrap=$(topic_key_count docsync.events "$wrap")
ctl dlq replay --at "$wrap_at"
out | grep -q "^skipped $wrap_at $wrap: cannot be replayed: .*value_not_json_object" \
    && t_pass "a value that was not JSON cannot be replayed, and it says so" \
    || t_fail "a value that was not JSON cannot be replayed, and it says so" "$(out)"
assert_eq "the unreplayable record's summary" "replayed 0, skipped 1, failed 0" \
    "$(out | tail -n 1)"
assert_eq "nothing produced for the unreplayable record" "$events_wrap" \
    "$(topic_key_count docsync.events "$wrap")"
ctl dlq replay --at 0:99999999
assert_eq "replaying a position with no record fails (exit 1)" 1 "$(rc)"
assert_eq "its summary counts it failed" "replayed 0, skipped 0, failed 1" "$(out | tail -n 1)"
