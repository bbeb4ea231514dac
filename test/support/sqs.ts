import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { startGateway, type RunningGateway } from "./gateway.ts";

const REGION = "us-east-1";

export interface TestQueue {
  readonly url: string;
  readonly dlqUrl: string;
}

export interface TestSqs {
  readonly endpoint: string;
  readonly client: SQSClient;
  /** The environment a gateway needs to consume this queue. */
  gatewayEnv(queue: TestQueue): Record<string, string>;
  /** A fresh queue whose redrive policy moves a message to its own DLQ after maxReceiveCount receives. */
  createQueue(options?: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number }): Promise<TestQueue>;
  send(queue: TestQueue, body: unknown): Promise<string>;
  /** Visible plus in-flight messages, as SQS counts them. */
  count(queueUrl: string): Promise<{ visible: number; inFlight: number }>;
  /** Looks at up to 10 visible messages and leaves them visible (a receive with visibility 0). */
  peek(queueUrl: string): Promise<{ body: string; receiveCount: number }[]>;
  /** Takes what is on a queue (for DLQ checks), waiting up to waitSeconds for the first. */
  drain(queueUrl: string, waitSeconds?: number): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The SQS API for tests: the endpoint in SQS_ENDPOINT when set (LocalStack, say), otherwise an
 * in-process fauxqs emulator on an ephemeral loopback port. AWS itself cannot be reached here.
 */
export async function startSqs(): Promise<TestSqs> {
  // The emulators accept any credentials; the SDK's default chain reads these.
  process.env.AWS_ACCESS_KEY_ID ??= "test";
  process.env.AWS_SECRET_ACCESS_KEY ??= "test";
  let endpoint = process.env.SQS_ENDPOINT;
  let stopEmulator = async () => {};
  if (!endpoint) {
    // buildApp rather than startFauxqs: the latter listens on every interface, tests on loopback only.
    const { buildApp } = await import("fauxqs");
    const emulator = buildApp({ logger: false, host: "localhost" });
    endpoint = await emulator.listen({ port: 0, host: "127.0.0.1" });
    stopEmulator = () => emulator.close();
  }
  const client = new SQSClient({ region: REGION, endpoint });
  const created: string[] = [];
  const sqs: TestSqs = {
    endpoint,
    client,
    gatewayEnv: (queue) => ({
      SQS_QUEUE_URL: queue.url,
      SQS_ENDPOINT: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
    }),
    async createQueue(options = {}) {
      const name = `test-${randomUUID().slice(0, 8)}`;
      const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
      const dlqArn = await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }));
      const queue = await client.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: dlqArn.Attributes!.QueueArn,
              maxReceiveCount: String(options.maxReceiveCount ?? 3),
            }),
          },
        }),
      );
      created.push(queue.QueueUrl!, dlq.QueueUrl!);
      return { url: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
    },
    async send(queue, body) {
      const output = await client.send(
        new SendMessageCommand({ QueueUrl: queue.url, MessageBody: typeof body === "string" ? body : JSON.stringify(body) }),
      );
      return output.MessageId!;
    },
    async count(queueUrl) {
      const output = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      return {
        visible: Number(output.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(output.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    },
    async peek(queueUrl) {
      const output = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: 0,
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      return (output.Messages ?? []).map((message) => ({
        body: message.Body ?? "",
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount),
      }));
    },
    async drain(queueUrl, waitSeconds = 1) {
      const output = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }),
      );
      return (output.Messages ?? []).map((message) => message.Body ?? "");
    },
    async stop() {
      for (const url of created) await client.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
      client.destroy();
      await stopEmulator();
    },
  };
  return sqs;
}

/** An event as an EventBridge rule puts it on an SQS queue. */
export function eventBridgeEvent(detailType: string, detail: unknown, id: string = randomUUID()): Record<string, unknown> {
  return {
    version: "0",
    id,
    "detail-type": detailType,
    source: "com.example.files",
    account: "123456789012",
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail,
  };
}

/** What SNS puts on a subscribed queue (fauxqs's form: Subject null, MessageAttributes {}). */
export function snsNotification(message: unknown): Record<string, unknown> {
  return {
    Type: "Notification",
    MessageId: randomUUID(),
    TopicArn: `arn:aws:sns:${REGION}:000000000000:events`,
    Subject: null,
    Message: JSON.stringify(message),
    Timestamp: new Date().toISOString(),
    SignatureVersion: "1",
    Signature: "EXAMPLE",
    SigningCertURL: "https://sns.example/cert.pem",
    UnsubscribeURL: "https://sns.example/unsubscribe",
    MessageAttributes: {},
  };
}

/** Events a publisher sent, leaving out the gateway's own control events. */
export function userEvents(event: { event?: string }): boolean {
  return !(event.event ?? "").startsWith("gateway.");
}

/** Resolves once the queue holds nothing, visible or in flight: every message was deleted. */
export async function untilQueueEmpty(sqs: TestSqs, queueUrl: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { visible, inFlight } = await sqs.count(queueUrl);
    if (visible + inFlight === 0) return;
    if (Date.now() > deadline) throw new Error(`queue still holds ${visible} visible and ${inFlight} in-flight messages`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of one Prometheus sample on a gateway's /metrics, 0 when absent. */
export async function metricValue(baseUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", baseUrl))).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

export interface SqsGatewayFixture {
  sqs: TestSqs;
  queue: TestQueue;
  gateway: RunningGateway;
}

/** Registers before/after hooks: an SQS endpoint, a queue with a DLQ, and a gateway consuming it. */
export function withSqsGateway(
  options: { queue?: Parameters<TestSqs["createQueue"]>[0]; env?: Record<string, string> } = {},
): SqsGatewayFixture {
  const fixture = {} as SqsGatewayFixture;
  before(async () => {
    fixture.sqs = await startSqs();
    fixture.queue = await fixture.sqs.createQueue(options.queue);
    fixture.gateway = await startGateway({ ...fixture.sqs.gatewayEnv(fixture.queue), ...options.env });
  });
  after(async () => {
    await fixture.gateway?.stop();
    await fixture.sqs?.stop();
  });
  return fixture;
}
