#!/usr/bin/env bash
# corpus.sh DIR COUNT SEED - the documents of a chaos run.
#
# Writes COUNT documents' plan to DIR/plan.jsonl, one JSON object a line:
#     {"seq":1,"documentId":"chaos_00001","accountId":"acc_1002",
#      "path":"/abs/file","fileName":"name.pdf","size":1234,"md5":"...",
#      "mapped":true}
# and the generated files under DIR/files. One document in eight is a real
# sample from samples/ (the copy whose README keeps the licence notice);
# the rest are random bytes from 0 bytes up to 4 MiB, mostly small. A few
# have names with spaces and UTF-8. One in fifty goes to an account the
# mapping does not know (CHAOS_UNMAPPED_ACCOUNT, acc_9999); those must be
# dead-lettered as unmapped_account. The sizes, names and accounts repeat
# for the same SEED; the bytes do not.
set -euo pipefail
# shellcheck source=scripts/chaos/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR=$1
COUNT=$2
RANDOM=$3
UNMAPPED=${CHAOS_UNMAPPED_ACCOUNT:-acc_9999}

# Names a CRM user might give; the verifier compares them byte for byte.
SPECIAL_NAMES=(
    "Kaufvertrag Entwurf 3.pdf"
    "Übergabeprotokoll Wohnung 2.pdf"
    "契約書 最終版.pdf"
    "résumé final (1).odt"
    "plan d'étage – 2e.jpg"
    "Grundriss  EG.tiff"
)
EXTENSIONS=(pdf pdf pdf jpg odt tiff bin)

load_stack_env
mapfile -t ACCOUNTS < <(awk -F, 'NR > 1 && NF >= 2 { print $1 }' "$MAPPING_FILE")
[ "${#ACCOUNTS[@]}" -gt 0 ] || { say "no accounts in $MAPPING_FILE"; exit 1; }
if printf '%s\n' "${ACCOUNTS[@]}" | grep -qxF -- "$UNMAPPED"; then
    say "$UNMAPPED is in $MAPPING_FILE; choose another CHAOS_UNMAPPED_ACCOUNT"
    exit 1
fi
mapfile -t SAMPLES < <(find "$CHAOS_ROOT/samples" -maxdepth 1 -type f \
    ! -name README.md | sort)
[ "${#SAMPLES[@]}" -gt 0 ] || { say "no samples in $CHAOS_ROOT/samples"; exit 1; }

# random_size: sets size, the bytes of a generated file; 2% up to 16 bytes
# (one of them empty), 60% up to 64 KiB, 30% up to 512 KiB, 8% up to 4 MiB.
random_size() {
    local p=$((RANDOM % 100))
    if [ "$p" -lt 2 ]; then rand_into size 0 16
    elif [ "$p" -lt 62 ]; then rand_into size 17 65536
    elif [ "$p" -lt 92 ]; then rand_into size 65537 524288
    else rand_into size 524289 4194304
    fi
}

mkdir -p "$DIR/files"
: > "$DIR/plan.jsonl"
for seq in $(seq 1 "$COUNT"); do
    id=$(printf 'chaos_%05d' "$seq")
    if [ $((seq % 8)) -eq 0 ]; then
        path=${SAMPLES[$(( (seq / 8) % ${#SAMPLES[@]} ))]}
        name=$(basename "$path")
    else
        ext=${EXTENSIONS[$((RANDOM % ${#EXTENSIONS[@]}))]}
        path=$DIR/files/$id.$ext
        random_size
        [ "$seq" -eq 2 ] && size=0
        head -c "$size" /dev/urandom > "$path"
        name=$id.$ext
    fi
    if [ $((seq % 23)) -eq 3 ]; then
        name=${SPECIAL_NAMES[$(( (seq / 23) % ${#SPECIAL_NAMES[@]} ))]}
    fi
    if [ $((seq % 50)) -eq 25 ]; then
        account=$UNMAPPED
    else
        account=${ACCOUNTS[$((RANDOM % ${#ACCOUNTS[@]}))]}
    fi
    jq -cn --argjson seq "$seq" --arg id "$id" --arg acc "$account" \
        --arg path "$path" --arg name "$name" \
        --argjson size "$(stat -c %s "$path")" \
        --arg md5 "$(md5sum < "$path" | cut -d' ' -f1)" \
        --argjson mapped "$([ "$account" = "$UNMAPPED" ] && echo false || echo true)" \
        '{seq: $seq, documentId: $id, accountId: $acc, path: $path,
          fileName: $name, size: $size, md5: $md5, mapped: $mapped}' \
        >> "$DIR/plan.jsonl"
done
say "corpus: $COUNT documents, $(du -sh "$DIR/files" | cut -f1) generated," \
    "$(jq -s 'map(select(.mapped | not)) | length' "$DIR/plan.jsonl") on unmapped $UNMAPPED"
