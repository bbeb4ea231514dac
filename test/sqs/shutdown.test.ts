import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { TEST_SECRET, token } from "../support/gateway.ts";
import { spawnGateway, type ChildGateway } from "../support/child-gateway.ts";
import { eventBridgeEvent, startSqs, type TestQueue, type TestSqs } from "../support/sqs.ts";

const MESSAGES = 60;
const VISIBILITY_SECONDS = 2;
let sqs: TestSqs;
let queue: TestQueue;
let gateway: ChildGateway | undefined;

before(async () => {
  sqs = await startSqs();
  queue = await sqs.createQueue({ maxReceiveCount: 100 });
});

after(async () => {
  gateway?.kill("SIGKILL");
  await sqs?.stop();
});

test("SIGTERM while messages flow: each one reached the stream or is still on the queue", { timeout: 30_000 }, async () => {
  gateway = spawnGateway({
    ...sqs.gatewayEnv(queue),
    JWT_SECRET: TEST_SECRET,
    PORT: "0",
    HOST: "127.0.0.1",
    SQS_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
    SHUTDOWN_GRACE_MS: "500",
  });
  const [, url] = await gateway.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
  const stream = await connectSse(url!, { token: await token({ sub: "frank" }) });
  assert.equal(stream.status, 200);

  let signalledAt = 0;
  for (let index = 0; index < MESSAGES; index++) {
    await sqs.send(queue, eventBridgeEvent("tick", { userId: "frank", index }));
    if (index === MESSAGES / 2) {
      await stream.waitFor(1, (event) => event.event === "tick");
      signalledAt = Date.now();
      gateway.kill("SIGTERM");
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(await gateway.exited, 0, "the gateway exits cleanly");
  assert.ok(Date.now() - signalledAt < 5000, "without waiting out a 20 s long poll");
  await stream.ended;

  const delivered = stream.events.filter((event) => event.event === "tick").map((event) => JSON.parse(event.data).index as number);
  const left: number[] = [];
  // Messages still hidden by the cancelled poll come back after their visibility timeout.
  const deadline = Date.now() + (VISIBILITY_SECONDS + 3) * 1000;
  while (delivered.length + left.length < MESSAGES && Date.now() < deadline) {
    for (const body of await sqs.drain(queue.url, 1)) left.push(JSON.parse(body).detail.index);
  }
  assert.ok(delivered.length > 0 && left.length > 0, `consumption was under way: ${delivered.length} delivered, ${left.length} left`);
  assert.deepEqual([...delivered, ...left].sort((a, b) => a - b), [...Array(MESSAGES).keys()], "nothing lost, nothing twice");
  assert.match(gateway.output(), /draining: sources stopped/, "the drain ran");
});
