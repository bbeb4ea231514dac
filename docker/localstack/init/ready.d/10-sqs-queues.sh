#!/usr/bin/env bash
# The queue the gateways consume and its dead-letter queue: a message that fails
# MAX_RECEIVES times (unparseable, no recipient) moves to the DLQ instead of
# looping forever.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib/aws.bash
source "$(dirname "${BASH_SOURCE[0]}")/../lib/aws.bash"

max_receives=${GATEWAY_MAX_RECEIVES:-5}

aws_cli sqs create-queue --queue-name "$GATEWAY_DLQ_NAME" \
  --attributes MessageRetentionPeriod=1209600 >/dev/null
dlq_arn=$(queue_arn "$GATEWAY_DLQ_NAME")

# Visibility 30 s: the gateway extends it while it still handles a message.
queue_url=$(aws_cli sqs create-queue --queue-name "$GATEWAY_QUEUE_NAME" \
  --attributes VisibilityTimeout=30,ReceiveMessageWaitTimeSeconds=20,MessageRetentionPeriod=345600 \
  --query QueueUrl --output text)
redrive_policy="{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"$max_receives\"}"
aws_cli sqs set-queue-attributes --queue-url "$queue_url" \
  --attributes "{\"RedrivePolicy\":$(json_string "$redrive_policy")}"

echo "sse-gateway: queue $queue_url, dead letters to $dlq_arn after $max_receives receives"
