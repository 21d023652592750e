# shellcheck shell=bash
# t_00_stack.sh - the local stack is up and every part answers.

for topic in $DOCSYNC_TOPICS; do
    if kcat -L -b "$KAFKA_BROKERS" -t "$topic" -m 5 2>/dev/null \
            | grep "topic \"$topic\" with [1-9][0-9]* partitions" >/dev/null; then
        t_pass "kafka lists topic $topic"
    else
        t_fail "kafka lists topic $topic" "not in kcat -L on $KAFKA_BROKERS"
    fi
done

assert_eq "redis answers PING" PONG "$(redis_cmd ping 2>&1)"
assert_eq "redis keeps an append-only file" "appendonly yes" \
    "$(redis_cmd config get appendonly | paste -sd' ')"

assert_eq "sandbox /healthz is 200" 200 "$(http_status GET "$SANDBOX_URL/healthz")"
assert_eq "ingest /healthz is 200" 200 "$(http_status GET "$INGEST_URL/healthz")"

if status=$(stack status 2>&1); then
    t_pass "every process of the stack runs"
else
    t_fail "every process of the stack runs" "$(echo "$status" | grep -v running | paste -sd';')"
fi
