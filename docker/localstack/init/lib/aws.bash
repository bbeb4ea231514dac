# shellcheck shell=bash
# Sourced by the init scripts. Inside the LocalStack container `awslocal` knows the
# endpoint; elsewhere (CI against an SQS emulator) AWS_ENDPOINT_URL names it.
aws_cli() {
  if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
    aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"
  else
    awslocal "$@"
  fi
}

# Names shared by the scripts and docker/compose.yaml (SQS_QUEUE_URL).
GATEWAY_QUEUE_NAME=${GATEWAY_QUEUE_NAME:-sse-gateway-events}
GATEWAY_DLQ_NAME=${GATEWAY_DLQ_NAME:-sse-gateway-events-dlq}
GATEWAY_RULE_NAME=${GATEWAY_RULE_NAME:-sse-gateway-to-sqs}

queue_arn() {
  local url
  url=$(aws_cli sqs get-queue-url --queue-name "$1" --query QueueUrl --output text)
  aws_cli sqs get-queue-attributes --queue-url "$url" --attribute-names QueueArn --query Attributes.QueueArn --output text
}

# A JSON string literal holding $1 (which contains no backslashes or newlines).
json_string() {
  printf '"%s"' "${1//\"/\\\"}"
}
