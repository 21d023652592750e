# shellcheck shell=bash
# t_97_memcheck.sh - the large-file path under valgrind: the fetcher (which
# streams the content into the blob store while hashing it) and the
# uploader (which streams it out again) are restarted under memcheck, the
# uploader with limits that send each of three generated files in its own
# mode: 512 KiB as multipart, 2 MiB as base64 in JSON, 20 MiB in 4 MiB
# parts of an upload session. Then both are stopped with SIGTERM. Valgrind
# must report no error and no definitely lost block in either; each
# document must be verified once, in its mode, with its file's md5.
# The replicas get longer HTTP and poll bounds, since memcheck runs them
# many times slower. Normal replicas are started again at the end.

VG_DIR=$DOCSYNC_RUN_DIR/memcheck
VG_STAGES=(fetcher uploader)
SIZE_MB=20
VG_CMD="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
VG_SETTINGS=(HTTP_TIMEOUT_MS=60000 KAFKA_MAX_POLL_INTERVAL_MS=210000)

# Whatever happens below, the stack gets its usual fetcher and uploader.
restore_stages() {
    local s
    for s in "${VG_STAGES[@]}"; do
        stack stop-stage "$s" >/dev/null 2>&1 || true
        STAGE_WRAP='' stack start-stage "$s" >/dev/null 2>&1 || true
    done
}
trap restore_stages EXIT
trap 'restore_stages; exit 1' TERM INT

# vg_summary LOG: "errors definite_bytes" from a finished memcheck log;
# nothing when the log has no error summary (valgrind did not finish).
vg_summary() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
errors = re.findall(r"ERROR SUMMARY: ([\d,]+) errors", text)
if not errors:
    sys.exit(0)
lost = re.findall(r"definitely lost: ([\d,]+) bytes", text)
print(errors[-1].replace(",", ""), lost[-1].replace(",", "") if lost else 0)
PY
}

rm -rf "$VG_DIR"
mkdir -p "$VG_DIR"
connector_variant connectors/sandbox-apikey.json "$VG_DIR/modes.json" '
m = c["destination"]["upload"]["modes"]
m["multipart"]["maxBytes"] = 1048576
m["json_base64"]["maxBytes"] = 3145728
m["chunked"]["minBytes"] = 3145729
m["chunked"]["partBytes"] = 4194304'
sandbox_config '{"tx": {"partBytes": 4194304}}'
declare -A mode_of=([multipart]=524288 [json_base64]=2097152 [chunked]=$(( SIZE_MB * 1048576 )))
for mode in "${!mode_of[@]}"; do
    head -c "${mode_of[$mode]}" /dev/urandom > "$VG_DIR/$mode.bin"
done

for s in "${VG_STAGES[@]}"; do
    stack stop-stage "$s" >/dev/null
    if STAGE_WRAP="$VG_CMD --log-file=$VG_DIR/$s.%p.vg" \
            stack start-stage "$s" 1 "${VG_SETTINGS[@]}" \
            CONNECTOR_FILE="$VG_DIR/modes.json" >/dev/null; then
        t_pass "$s restarts under valgrind"
    else
        t_fail "$s restarts under valgrind" "start-stage failed"
    fi
done

declare -A id_of
for mode in "${!mode_of[@]}"; do
    id_of[$mode]=$(uniq_id "t97_$mode")
    sandbox_add_doc acc_1001 "$VG_DIR/$mode.bin" "{\"documentId\":\"${id_of[$mode]}\"}" \
        >/dev/null
done
for mode in "${!mode_of[@]}"; do
    id=${id_of[$mode]}
    what="a ${mode_of[$mode]}-byte file ($mode)"
    if wait_until 120 doc_state_is "$id" verified; then
        t_pass "$what is verified through the valgrind-run stages"
    else
        t_fail "$what is verified through the valgrind-run stages" \
            "state is '$(doc_state "$id")'"
    fi
    assert_eq "$what is uploaded once" 1 "$(uploads_of "$id")"
    assert_eq "$what went as $mode" "$mode" "$(tx_doc_of "$id" | json_get uploadMode)"
    assert_eq "$what: the stored copy has the file's md5" \
        "$(md5sum "$VG_DIR/$mode.bin" | cut -d' ' -f1)" \
        "$(tx_doc_of "$id" | json_get md5Checksum)"
done
sandbox_config '{"tx": null}'

# SIGTERM: each stage drains and exits, and memcheck writes its summary.
for s in "${VG_STAGES[@]}"; do
    stack stop-stage "$s" >/dev/null
done
for s in "${VG_STAGES[@]}"; do
    logs=("$VG_DIR/$s".*.vg)
    if [ ! -f "${logs[0]}" ]; then
        t_fail "$s: memcheck wrote its log" "no $VG_DIR/$s.*.vg"
        continue
    fi
    read -r errors lost <<< "$(vg_summary "${logs[0]}")"
    if [ -z "${errors:-}" ]; then
        t_fail "$s: memcheck finished with a summary" "see ${logs[0]}"
        continue
    fi
    assert_eq "$s: valgrind reports no memory errors" 0 "$errors" ||
        grep -m 20 -A 8 'Invalid\|uninitialised\|definitely lost in' "${logs[0]}" >&2
    assert_eq "$s: valgrind reports no definitely lost bytes" 0 "$lost"
done
