import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { publisherToken, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { keepRedisBusy } from "../support/redis-busy.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse } from "../support/sse-client.ts";

// A batch on a bus that cannot take its first event is refused whole (503, nothing accepted, so
// the publisher retries all of it); once Redis answers again the same batch goes through.
describe("POST /publish/batch on a Redis that is busy", () => {
  let redis: TestRedis;
  let gw: RunningGateway;
  before(async () => {
    redis = await startTestRedis();
    gw = await startGateway({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `batch-${process.pid}:` });
  });
  after(async () => {
    await gw?.stop();
    await redis?.stop();
  });

  async function publishBatch(body: unknown): Promise<{ status: number; retryAfter: string | null; body: any }> {
    const response = await fetch(new URL("/publish/batch", gw.url), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await publisherToken()}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() };
  }

  it("answers 503 unavailable with Retry-After and delivers nothing, then accepts the batch", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "rita" }) });
    const batch = { events: [{ users: ["rita"], type: "one", data: 1 }, { users: ["rita"], type: "two", data: 2 }] };
    const busy = await keepRedisBusy(redis.url, 1500);
    let refused;
    try {
      refused = await publishBatch(batch);
    } finally {
      await busy.finished();
    }
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, "unavailable");
    assert.ok(refused.retryAfter);
    const accepted = await publishBatch(batch);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const events = await stream.waitFor(2, (event) => event.event === "one" || event.event === "two");
    assert.deepEqual(events.map((event) => event.event), ["one", "two"], "each event once, in order");
    stream.close();
  });
});
