import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import { ConfigError, EnvReader } from "../src/config/env-reader.ts";
import { readSqs } from "../src/config/sqs-config.ts";

const USAGE = `Sends one event, in the envelope an EventBridge rule gives it, to the queue in SQS_QUEUE_URL.

  npm run send-event -- --user u1 --type file.processed --data '{"fileId":"42"}'

  --user ID      recipient user (repeatable)      --topic NAME   recipient topic (repeatable)
  --type TYPE    the detail-type (SSE event type)  --data JSON    the detail (an object)
  --source NAME  the event source (default app.send-event, which the compose and CDK rules match)
  --id ID        the event id, the idempotency key (default: a new UUID)

Environment: SQS_QUEUE_URL, AWS_REGION, SQS_ENDPOINT (emulators), AWS credentials as the SDK finds them.`;

/** The routing fields at the default paths: userId/userIds and topic/topics of the detail. */
function detailWith(data: Record<string, unknown>, users: string[], topics: string[]): Record<string, unknown> {
  return {
    ...data,
    ...(users.length === 1 ? { userId: users[0] } : users.length > 1 ? { userIds: users } : {}),
    ...(topics.length === 1 ? { topic: topics[0] } : topics.length > 1 ? { topics } : {}),
  };
}

function parseData(text: string): Record<string, unknown> {
  const data: unknown = JSON.parse(text);
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new Error("--data must be a JSON object");
  return data as Record<string, unknown>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: "string", multiple: true, default: [] },
      topic: { type: "string", multiple: true, default: [] },
      type: { type: "string" },
      data: { type: "string", default: "{}" },
      source: { type: "string", default: "app.send-event" },
      id: { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.type || values.user.length + values.topic.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const config = readSqs(new EnvReader(process.env));
  if (!config) throw new ConfigError("SQS_QUEUE_URL must be set");
  const event = {
    version: "0",
    id: values.id ?? randomUUID(),
    "detail-type": values.type,
    source: values.source,
    account: "000000000000",
    time: new Date().toISOString(),
    region: config.region,
    resources: [],
    detail: detailWith(parseData(values.data), values.user, values.topic),
  };
  const client = new SQSClient({ region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
  try {
    const output = await client.send(new SendMessageCommand({ QueueUrl: config.queueUrl, MessageBody: JSON.stringify(event) }));
    process.stdout.write(`sent event ${event.id} (${event["detail-type"]}) as SQS message ${output.MessageId}\n`);
  } finally {
    client.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`send-event: ${(error as Error).message}\n`);
  process.exit(1);
});
