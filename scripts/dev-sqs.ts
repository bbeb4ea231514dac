/**
 * npm run dev:sqs: the gateway in development mode, consuming a queue of an SQS emulator
 * (fauxqs) that runs in the same process, for trying the SQS path without Docker or AWS. It
 * prints the `npm run send-event` line that puts an event on that queue for the demo page.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";

const REGION = "us-east-1";
const QUEUE = "sse-gateway-dev";
// The emulator takes any credentials; the SDK's default chain must find some.
const CREDENTIALS = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };

async function startQueue(): Promise<{ endpoint: string; queueUrl: string }> {
  const emulator = buildApp({ logger: false, host: "localhost" });
  const endpoint = await emulator.listen({ port: 0, host: "127.0.0.1" });
  const client = new SQSClient({ region: REGION, endpoint, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${QUEUE}-dlq` }));
  const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }));
  const redrive = JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: "5" });
  const queue = await client.send(new CreateQueueCommand({ QueueName: QUEUE, Attributes: { RedrivePolicy: redrive } }));
  client.destroy();
  return { endpoint, queueUrl: queue.QueueUrl! };
}

const { endpoint, queueUrl } = await startQueue();
const sqsEnv = { SQS_QUEUE_URL: queueUrl, SQS_ENDPOINT: endpoint, AWS_REGION: REGION, ...CREDENTIALS };
Object.assign(process.env, sqsEnv);
// The gateway itself, as `npm start` runs it, with the queue in its environment.
await import("../src/main.ts");
const assignments = Object.entries(sqsEnv).map(([name, value]) => `${name}=${value}`).join(" ");
process.stdout.write(
  [
    "  Send an event through the queue (from another shell, in this folder):",
    `    ${assignments} npm run send-event -- --user demo-user --type greeting --data '{"hello":"from SQS"}'`,
    "",
  ].join("\n") + "\n",
);
