import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { metricValue, startSqs, type TestSqs } from "../support/sqs.ts";
import { eventually } from "../support/wait.ts";

let sqs: TestSqs;
let gateway: RunningGateway | undefined;

before(async () => {
  sqs = await startSqs();
});

after(async () => {
  await gateway?.stop();
  await sqs?.stop();
});

async function sqsReadiness(url: string): Promise<{ status: number; reason?: string }> {
  const response = await fetch(new URL("/readyz", url));
  const body = (await response.json()) as { failing: { name: string; reason: string }[] };
  return { status: response.status, reason: body.failing.find((check) => check.name === "sqs")?.reason };
}

test("/readyz says why the consumer fails, and recovers when the queue appears", { timeout: 30_000 }, async () => {
  const name = `late-${randomUUID().slice(0, 8)}`;
  const queueUrl = `http://sqs.us-east-1.localhost:${new URL(sqs.endpoint).port}/000000000000/${name}`;
  gateway = await startGateway(sqs.gatewayEnv({ url: queueUrl, dlqUrl: "" }));
  const failing = await eventually(async () => {
    const readiness = await sqsReadiness(gateway!.url);
    return readiness.status === 503 && readiness.reason !== undefined ? readiness : undefined;
  }, 5000, "the failure to show");
  assert.match(failing.reason!, /^receiving from the queue fails: .*exist/i);
  assert.ok((await metricValue(gateway.url, "sse_gateway_sqs_receive_errors_total")) >= 1);

  await sqs.client.send(new CreateQueueCommand({ QueueName: name }));
  await eventually(async () => (await sqsReadiness(gateway!.url)).status === 200, 15_000, "readiness to return");
});
