import assert from "node:assert/strict";
import http from "node:http";
import { describe, it } from "node:test";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { ExpiryWheel } from "../../src/hub/expiry-wheel.ts";
import { DRAINING_EVENT, Hub } from "../../src/hub/hub.ts";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, token } from "../support/gateway.ts";
import { TestSink } from "../support/test-sink.ts";

/** A HEAD request: status, headers, and how many body bytes came (none may). */
function head(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const request = http.request(new URL("/events", url), { method: "HEAD", headers, agent: false }, (response) => {
      let bodyBytes = 0;
      response.on("data", (chunk: Buffer) => (bodyBytes += chunk.length));
      response.once("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, bodyBytes }));
    });
    request.once("error", reject);
    request.end();
  });
}

/** A hub on a memory bus, with limits no test here reaches. */
function memoryHub(): { bus: MemoryBus; hub: Hub } {
  const bus = new MemoryBus({ maxEvents: 100, maxAgeMs: 60_000, idempotencyWindowMs: 60_000 });
  const hub = new Hub(bus, {
    heartbeatIntervalMs: 60_000,
    maxBufferBytes: 1 << 20,
    maxConnections: 1000,
    maxConnectionsPerUser: 1000,
    maxOpensPerUserPerMinute: 1000,
    retryMs: 1000,
    retryJitterMs: 0,
  });
  return { bus, hub };
}

describe("HEAD /events", () => {
  it("answers what GET would (SSE headers, 401, 403, 429 with Retry-After) with no body and no stream", async () => {
    const gw = await startGateway({ MAX_CONNECTIONS_PER_USER: "1", MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "2", CORS_ORIGINS: "https://app.example" });
    try {
      const user = await token({ sub: "heady", topics: ["news"] });
      const ok = await head(gw.url, { authorization: `Bearer ${user}`, origin: "https://app.example" });
      assert.equal(ok.status, 200);
      assert.match(String(ok.headers["content-type"]), /^text\/event-stream/);
      assert.equal(ok.headers["cache-control"], "no-cache, no-transform");
      assert.equal(ok.headers["access-control-allow-origin"], "https://app.example");
      assert.ok(ok.headers["x-request-id"]);
      assert.equal(ok.bodyBytes, 0);
      assert.equal(gw.gateway.hub.size, 0, "HEAD opens no stream");

      const missing = await head(gw.url, {});
      assert.equal(missing.status, 401);
      assert.equal(missing.bodyBytes, 0);
      const topic = await new Promise<number>((resolve, reject) => {
        const request = http.request(new URL("/events?topic=sports", gw.url), { method: "HEAD", headers: { authorization: `Bearer ${user}` }, agent: false }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.once("error", reject);
        request.end();
      });
      assert.equal(topic, 403, "topics are checked as GET checks them");

      // HEADs do not count as opens: two of them, then the two GETs the limit allows still work.
      await head(gw.url, { authorization: `Bearer ${user}` });
      const stream = await connectSse(gw.url, { token: user });
      assert.equal(stream.status, 200);
      const full = await head(gw.url, { authorization: `Bearer ${user}` });
      assert.equal(full.status, 429, "the user holds MAX_CONNECTIONS_PER_USER streams");
      assert.ok(Number(full.headers["retry-after"]) > 0);
      assert.equal(full.bodyBytes, 0);
      stream.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await connectSse(gw.url, { token: user });
      assert.equal(second.status, 200, "the HEADs took none of the opens per minute");
      second.close();
    } finally {
      await gw.stop();
    }
  });
});

describe("the drain", () => {
  it("lets go of each stream it ends: nothing is written after gateway.draining and its retry:", async () => {
    const { bus, hub } = memoryHub();
    try {
      // Clients that do not see the close yet: the hub must let go of an ended stream itself.
      const sinks = Array.from({ length: 20 }, () => new TestSink({ closesOnEnd: false }));
      for (const sink of sinks) hub.open({ userId: "u", channels: ["u:u"], sink, start: { kind: "head" } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const draining = hub.drain(1000);
      const publishing = (async () => {
        for (let n = 0; n < 20; n++) {
          await bus.publish({ type: "t", dataJson: String(n), channels: ["u:u"] });
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      })();
      await Promise.all([draining, publishing]);
      assert.equal(hub.size, 0, "every ended stream is unregistered at once");
      for (const sink of sinks) {
        assert.ok(sink.ended);
        assert.equal(sink.writesAfterEnd, 0, "nothing is written to an ended stream");
        assert.equal(sink.frames.at(-1)?.event, DRAINING_EVENT, "gateway.draining is the last frame");
      }
    } finally {
      hub.close();
      await bus.close();
    }
  });
});

describe("resync", () => {
  it("puts the streams of the named channels back into catch-up, and every stream when none are named", async () => {
    const { bus, hub } = memoryHub();
    try {
      const open = (channel: string) => hub.open({ userId: channel, channels: [channel], sink: new TestSink(), start: { kind: "head" } });
      const [a, b, c] = [open("u:a"), open("u:b"), open("t:c")];
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual([a.state, b.state, c.state], ["live", "live", "live"]);
      hub.resync(["u:a", "t:c"]);
      assert.deepEqual([a.state, b.state, c.state], ["catching-up", "live", "catching-up"]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      hub.resync();
      assert.deepEqual([a.state, b.state, c.state], ["catching-up", "catching-up", "catching-up"]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual([a.state, b.state, c.state], ["live", "live", "live"]);
    } finally {
      hub.close();
      await bus.close();
    }
  });
});

describe("the expiry wheel", () => {
  it("keeps no empty second: 200k streams with 30-day tokens that open and close leave nothing", () => {
    const now = 1_800_000_000;
    const wheel = new ExpiryWheel<number>(now);
    for (let i = 0; i < 200_000; i++) {
      wheel.add(i, now + 30 * 86_400 + (i % 86_400));
      wheel.remove(i);
    }
    assert.equal(wheel.pendingSeconds, 0);
    wheel.add(1, now + 5);
    wheel.add(2, now + 5);
    wheel.remove(1);
    assert.equal(wheel.pendingSeconds, 1, "a second with a member left stays");
    assert.deepEqual(wheel.takeDue(now + 10), [2]);
    assert.equal(wheel.pendingSeconds, 0);
  });
});
