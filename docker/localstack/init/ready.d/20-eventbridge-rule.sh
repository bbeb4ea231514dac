#!/usr/bin/env bash
# An EventBridge rule on the default bus that sends application events to the
# gateways' queue, and the queue policy that lets EventBridge (and only this
# rule) send to it. Runs after 10-sqs-queues.sh.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/aws.bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/aws.bash"

# Events whose source starts with "app." reach browsers (see README, EventBridge and SQS).
event_pattern=${GATEWAY_EVENT_PATTERN:-'{"source":[{"prefix":"app."}]}'}

queue_url=$(aws_cli sqs get-queue-url --queue-name "$GATEWAY_QUEUE_NAME" --query QueueUrl --output text)
queue_arn=$(queue_arn "$GATEWAY_QUEUE_NAME")
rule_arn=$(aws_cli events put-rule --name "$GATEWAY_RULE_NAME" \
  --event-pattern "$event_pattern" --state ENABLED --query RuleArn --output text)

queue_policy=$(cat <<JSON
{"Version":"2012-10-17","Statement":[{"Sid":"EventBridgeRuleSends","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"$queue_arn","Condition":{"ArnEquals":{"aws:SourceArn":"$rule_arn"}}}]}
JSON
)
aws_cli sqs set-queue-attributes --queue-url "$queue_url" \
  --attributes "{\"Policy\":$(json_string "$queue_policy")}"

aws_cli events put-targets --rule "$GATEWAY_RULE_NAME" \
  --targets "[{\"Id\":\"sse-gateway-queue\",\"Arn\":\"$queue_arn\"}]" >/dev/null

echo "sse-gateway: rule $rule_arn ($event_pattern) -> $queue_arn"
