# check.jq - the verdict of a chaos run, from what check.sh collected.
#
# Inputs (--slurpfile): $subs submitted.jsonl, $resent resent.jsonl,
# $faults faults.jsonl, $dlq dlq.jsonl, $states [{documentId: state}],
# $vat [{documentId: verified_at in epoch ms}],
# $tx [GET /admin/tx/documents], $map [{accountId: transactionId}],
# $chaos [GET /admin/chaos or {}]. A record the sandbox's chaos flags
# "lost" (answered 201, then dropped) is not stored; one flagged
# "corrupted" is stored, with the MD5 of its changed bytes.
# Output: {"summary": {...the result line...}, "problems": [...],
# "info": {...}}; a document with problems fails the run.

def by(f): reduce .[] as $x ({}; .[$x | f] += [$x]);
def count(f): map(select(f)) | length;
def pct(p): if length == 0 then null else sort | .[((length - 1) * p | floor)] end;

($states[0]) as $st
| ($tx[0]) as $tx
| ($map[0]) as $map
| ($dlq | by(.key)) as $dlqby
| ($tx.documents | by(.sourceDocumentId)) as $copies
| ($resent | map({key: .documentId, value: .}) | from_entries) as $res
| [$subs[] | select(.created)] as $docs
| ($docs | map({key: .documentId, value: true}) | from_entries) as $ours

| [ $docs[] | . as $d
    | ($map[$d.accountId]) as $txn
    | ($copies[$d.documentId] // []) as $c
    | {id: $d.documentId, account: $d.accountId, fileName: $d.fileName,
       size: $d.size, mapped: ($txn != null), txn: $txn,
       state: ($st[$d.documentId] // ""),
       took_s: ((($vat[0][$d.documentId] // "") | tonumber? // null) as $v
                | if $v then (($v - $d.at) / 100 | round / 10) else null end),
       webhook: (if $d.accepted then "accepted"
                 elif ($res[$d.documentId].accepted // false) then "accepted on resend"
                 else "never accepted (statuses \($d.webhookStatuses))" end),
       uploads: ($tx.uploadsBySource[$d.documentId] // 0),
       dropped: (($tx.lostBySource // {})[$d.documentId] // 0),
       replays: ($tx.replaysBySource[$d.documentId] // 0),
       copies: [$c[] | {id, transactionId, size, md5Checksum, fileName,
                        lost: (.lost // false), corrupted: (.corrupted // false)}],
       dlq: [($dlqby[$d.documentId] // [])[] | {class, reason, stage, attempts}]}
    | .stored = [.copies[] | select(.lost | not)]
    | .intact = any(.stored[]; .transactionId == $txn and .md5Checksum == $d.md5
                               and .size == $d.size and .fileName == $d.fileName)
    | .verified = (.state == "verified" and .intact)
    | .dead = ((.dlq | length) > 0 and (.verified | not))
    | .lost = ((.verified or .dead) | not)
    | .duplicate = ((.uploads - .dropped) > 1 or (.stored | length) > 1)
    | .misattached = any(.copies[]; .transactionId != $txn)
    | .problems = [
        (select(.lost) | "lost: state '\(.state)', webhook \(.webhook), "
            + "\(.uploads) uploads"
            + (if .state == "verified"
               then " (verified in Redis, but no intact copy under \(.txn))"
               else "" end)),
        (select(.duplicate) | "duplicate: \(.uploads) uploads"
            + (if .dropped > 0 then " (\(.dropped) dropped by the sandbox)" else "" end)
            + ", stored copies " + ([.stored[].id] | join(" "))),
        (select(.misattached) | "misattached: stored under "
            + ([.copies[].transactionId] | join(" "))
            + ", the mapping says \(.txn // "none")"),
        (.dlq[] | select(.class != "permanent")
            | "dead-lettered as \(.class) by \(.stage): \(.reason)"
              + " after \(.attempts) attempts"),
        (select(.mapped and (.dlq | length) > 0)
            | "dead-lettered though its account is mapped: "
              + ([.dlq[] | "\(.reason) (\(.stage))"] | join(", "))),
        (select((.mapped | not)
                and ([.dlq[] | select(.reason == "unmapped_account")] | length) == 0)
            | "unmapped account, but not dead-lettered as unmapped_account")
      ]
  ] as $rows

| [$tx.documents[] | select($ours[.sourceDocumentId] | not)] as $foreign
| ($faults | count(.action == "kill" and .pid != null)) as $kills
| ($faults | count(.action != "kill" and .ok)) as $restarts
| ($chaos[0].injected.total // 0) as $injected

| {summary: {
     documents: ($docs | length),
     verified: ($rows | count(.verified)),
     dead_lettered: ($rows | count(.dead)),
     lost: ($rows | count(.lost)),
     duplicates: ($rows | count(.duplicate)),
     misattached: (($rows | count(.misattached)) + ($foreign | length)),
     faults: ($injected + $kills + $restarts)},
   problems: (
     [$rows[] | select(.problems | length > 0)
      | {id, problems, state, webhook, uploads, dropped, replays, copies, dlq}]
     + [$foreign[] | {id: .sourceDocumentId,
        problems: ["stored copy \(.id) under \(.transactionId) of a document "
                   + "this run did not submit"]}]
     + [$subs[] | select(.created | not)
        | {id: .documentId, problems: ["the sandbox never created it"]}]),
   info: {
     injected: ($chaos[0].injected // "no chaos API on this sandbox"),
     kills: $kills, restarts: $restarts,
     webhooks_resent: ($resent | count(.accepted)),
     webhooks_given_up: ($resent | count(.accepted | not)),
     lost_never_accepted: ($rows | count(.lost and (.webhook | startswith("never")))),
     idempotent_replays: ($tx.idempotentReplays // 0),
     uploads_dropped_by_sandbox: ([($tx.lostBySource // {})[]] | add // 0),
     uploads_corrupted_by_sandbox: ([($tx.corruptedBySource // {})[]] | add // 0),
     max_in_flight: ($chaos[0].maxInFlight // null),
     dlq_records: ($dlq | length),
     dlq_reasons: ($dlq | by("\(.reason)/\(.class)") | map_values(length)),
     states: ($rows | by(.state) | map_values(length)),
     seconds_to_verified: ([$rows[] | select(.verified) | .took_s | select(. != null)]
       | {p50: pct(0.5), p95: pct(0.95), max: max})}}
