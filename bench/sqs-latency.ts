import { fileURLToPath } from "node:url";
import { TEST_SECRET, token } from "../test/support/gateway.ts";
import { spawnGateway } from "../test/support/child-gateway.ts";
import { connectSse, type SseConnection } from "../test/support/sse-client.ts";
import { eventBridgeEvent, startSqs } from "../test/support/sqs.ts";

export interface SqsLatency {
  readonly messages: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface SqsLatencyOptions {
  /** How many events to time, one at a time. */
  readonly messages?: number;
  /** Extra gateway environment (REDIS_URL, say). */
  readonly gatewayEnv?: Record<string, string>;
}

/**
 * SQS to browser latency: from the SendMessage call to the event's arrival on an SSE client, one
 * message at a time, through a gateway process consuming the emulator's queue (SQS_ENDPOINT, or
 * fauxqs on loopback). A figure for the gateway's part of the path, not AWS's.
 */
export async function measureSqsToSseLatency(options: SqsLatencyOptions = {}): Promise<SqsLatency> {
  const messages = options.messages ?? 200;
  const sqs = await startSqs();
  const queue = await sqs.createQueue();
  const gateway = spawnGateway({ ...sqs.gatewayEnv(queue), JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", ...options.gatewayEnv });
  let stream: SseConnection | undefined;
  const samples: number[] = [];
  try {
    const [, url] = await gateway.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    stream = await connectSse(url!, { token: await token({ sub: "bench" }) });
    for (let seq = 0; seq < messages; seq++) {
      const sentAt = performance.now();
      await sqs.send(queue, eventBridgeEvent("bench.tick", { userId: "bench", seq }));
      await stream.waitFor(seq + 1, (event) => event.event === "bench.tick", 10_000);
      samples.push(performance.now() - sentAt);
    }
  } finally {
    stream?.close();
    gateway.kill("SIGTERM");
    await gateway.exited;
    await sqs.stop();
  }
  samples.sort((a, b) => a - b);
  const at = (quantile: number) => round(samples[Math.min(samples.length - 1, Math.floor(quantile * samples.length))]!);
  return { messages, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(samples[samples.length - 1]!) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await measureSqsToSseLatency({ messages: Number(process.argv[2] ?? 200) });
  console.log(`SQS -> SSE latency over ${result.messages} messages: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms`);
}
