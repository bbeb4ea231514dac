import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, token } from "../support/gateway.ts";

const retryOf = (raw: string) => Number(/^retry: (\d+)\n\n/.exec(raw)?.[1]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("health a load balancer can act on, and reconnects spread out", () => {
  it("the retry hint on connect is RETRY_MS plus a random share of RETRY_JITTER_MS, per stream", async () => {
    const gw = await startGateway({ RETRY_MS: "1000", RETRY_JITTER_MS: "4000" });
    try {
      const streams = await Promise.all(Array.from({ length: 40 }, async (_, i) => connectSse(gw.url, { token: await token({ sub: `r${i}` }) })));
      await sleep(100);
      const retries = streams.map((stream) => retryOf(stream.raw()));
      for (const stream of streams) stream.close();
      assert.ok(retries.every((retry) => retry >= 1000 && retry <= 5000), `within [1000, 5000]: ${retries}`);
      assert.ok(new Set(retries).size >= 30, `spread, not one value: ${retries}`);
      // Spread over the window, not bunched at one end: both halves are well represented.
      assert.ok(retries.filter((retry) => retry < 3000).length >= 8 && retries.filter((retry) => retry >= 3000).length >= 8, `${retries}`);
    } finally {
      await gw.stop();
    }
  });

  it("RETRY_JITTER_MS=0 gives every stream exactly RETRY_MS; a wrong value is refused by name", async () => {
    const gw = await startGateway({ RETRY_MS: "700", RETRY_JITTER_MS: "0" });
    try {
      const stream = await connectSse(gw.url, { token: await token({ sub: "fixed" }) });
      await sleep(50);
      assert.equal(retryOf(stream.raw()), 700);
      stream.close();
    } finally {
      await gw.stop();
    }
    await assert.rejects(startGateway({ RETRY_JITTER_MS: "-5" }), /RETRY_JITTER_MS must be a whole number/);
  });

  it("/healthz is 200 while serving and 503 once draining, when new streams are refused with Retry-After", async () => {
    const gw = await startGateway();
    try {
      const healthy = await fetch(new URL("/healthz", gw.url));
      assert.equal(healthy.status, 200);
      assert.deepEqual(await healthy.json(), { status: "ok" });
      gw.gateway.hub.refuseNewStreams();
      const draining = await fetch(new URL("/healthz", gw.url));
      assert.equal(draining.status, 503);
      assert.deepEqual(await draining.json(), { status: "draining" });
      const refused = await connectSse(gw.url, { token: await token({ sub: "late" }) });
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers["retry-after"]) >= 1, "the refusal says when to come back");
    } finally {
      await gw.stop();
    }
  });
});
