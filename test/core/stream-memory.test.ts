import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import type { FastifyBaseLogger, RouteOptions } from "fastify";
import { createGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loggerOptions } from "../../src/telemetry/logger.ts";
import { pino } from "pino";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import type { EventBus } from "../../src/bus/event-bus.ts";
import { formatEventId } from "../../src/events/event-id.ts";
import { Hub } from "../../src/hub/hub.ts";
import type { StreamSink } from "../../src/hub/stream-sink.ts";
import { startGateway, TEST_SECRET, token, type RunningGateway } from "../support/gateway.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { eventually } from "../support/wait.ts";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;
const MB = 1024 * 1024;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A client that reads everything and keeps nothing. */
class DiscardingSink implements StreamSink {
  readonly bufferedBytes = 0;
  write(): void {}
  onFlushed(listener: () => void): void {
    listener();
  }
  end(): void {}
  destroy(): void {}
  onClose(): void {}
}

const skipRedis = killableRedisSkipReason();

describe("what streams hold in memory", { timeout: 60_000 }, () => {
  let redis: TestRedis | undefined;
  before(async () => {
    if (!skipRedis) redis = await startTestRedis();
  });
  after(() => redis?.stop());

  it("idle streams after a 60 KB event each hold no payload (Redis bus: live events arrive as pub/sub messages)", { skip: skipRedis }, async () => {
    const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
    const bus = new RedisBus({ url: redis!.url, keyPrefix: `memory-${randomUUID().slice(0, 8)}:`, commandTimeoutMs: 2000 }, { maxEvents: 1, maxAgeMs: 60_000, idempotencyWindowMs: 60_000 }, log);
    const hub = new Hub(bus, {
      heartbeatIntervalMs: 60_000,
      maxBufferBytes: 1 << 20,
      maxConnections: 100_000,
      maxConnectionsPerUser: 10,
      maxOpensPerUserPerMinute: 10,
      retryMs: 1000,
      retryJitterMs: 0,
    });
    const streams = 1000;
    try {
      await eventually(() => bus.health().ready, 10_000, "the Redis bus ready");
      const cursors = Array.from({ length: streams }, (_, i) => hub.open({ userId: `idle-${i}`, channels: [`u:idle-${i}`], sink: new DiscardingSink(), start: { kind: "head" } }));
      await eventually(() => cursors.every((cursor) => cursor.state === "live"), 10_000, "every stream live");
      const before = heapUsed();
      const payload = JSON.stringify("x".repeat(60_000));
      for (let i = 0; i < streams; i++) await bus.publish({ type: "big", dataJson: payload, channels: [`u:idle-${i}`] });
      await eventually(() => hub.stats.delivered === streams, 10_000, "every event delivered");
      const grown = heapUsed() - before;
      // Each position pinning its event would hold 1000 x 60 KB = 60 MB.
      assert.ok(grown < 10 * MB, `heap grew by ${(grown / MB).toFixed(1)} MB for ${streams} idle streams after 60 KB events`);
    } finally {
      hub.close();
      await bus.close();
    }
  });

  /**
   * The catch-up of the README's bound: 5 topics x 1000 distinct 16 KB events in history, and a
   * client that resumes from before all of them and reads nothing.
   */
  async function catchUpGrowth(gw: RunningGateway, bus: EventBus): Promise<{ heapMB: number; rssMB: number }> {
    const topics = ["t1", "t2", "t3", "t4", "t5"];
    const start = await bus.head();
    const payload = "y".repeat(16_000);
    for (let n = 0; n < 1000; n++) {
      await Promise.all(topics.map((topic) => bus.publish({ type: "bulk", dataJson: JSON.stringify(`${n}${payload}`), channels: [`t:${topic}`] })));
    }
    const heapBefore = heapUsed();
    const rssBefore = process.memoryUsage().rss;
    const client = await connectSse(gw.url, { token: await token({ sub: "slow-reader", topics: ["*"] }), topics, lastEventId: formatEventId(start), paused: true });
    assert.equal(client.status, 200);
    let peakRss = rssBefore;
    let peakHeap = heapBefore;
    for (let i = 0; i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const usage = process.memoryUsage();
      peakRss = Math.max(peakRss, usage.rss);
      peakHeap = Math.max(peakHeap, usage.heapUsed);
    }
    assert.equal(gw.gateway.hub.size, 1, "the client is waited for, not dropped, while it makes no progress for less than 30 s");
    client.close();
    return { heapMB: (peakHeap - heapBefore) / MB, rssMB: (peakRss - rssBefore) / MB };
  }

  it("an open stream holds none of fastify's objects of its request (request, reply, the request's logger)", async () => {
    const held: WeakRef<object>[] = [];
    const onRoute = (route: RouteOptions) => {
      if (route.url !== "/events" || route.method !== "GET") return;
      const hooks = [route.onRequest ?? []].flat();
      route.onRequest = [...hooks, (request, reply, done) => {
        held.push(new WeakRef(request), new WeakRef(reply), new WeakRef(request.log));
        done();
      }];
    };
    // A real logger, as in production: fastify's response listeners come with one.
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "100" }, () => randomBytes(32));
    const gateway = await createGateway(config, { logger: loggerOptions("warn", discard), onRoute });
    const url = await gateway.listen();
    const clients: SseConnection[] = [];
    try {
      for (const user of ["alice", "bob", "carol"]) clients.push(await connectSse(url, { token: await token({ sub: user, topics: ["news"] }), topics: ["news"] }));
      await eventually(() => gateway.hub.size === 3, 5000, "three streams open");
      assert.equal(held.length, 9);
      heapUsed();
      assert.deepEqual(held.map((ref) => ref.deref() === undefined), held.map(() => true), "collected while the streams are open");
      assert.equal(gateway.hub.size, 3);
    } finally {
      for (const client of clients) client.close();
      await gateway.shutdown();
    }
  });

  it("a client that reads nothing while it catches up on 80 MB of history costs the memory bus gateway under 16 MB", async () => {
    const gw = await startGateway({ HISTORY_MAX_EVENTS: "1000", MAX_EVENT_BYTES: "65536" });
    try {
      const growth = await catchUpGrowth(gw, gw.gateway.bus);
      assert.ok(growth.heapMB < 16 && growth.rssMB < 16, `grew by ${JSON.stringify(growth)} MB`);
    } finally {
      await gw.stop();
    }
  });

  it(
    "the same catch-up costs the Redis bus gateway under 16 MB",
    { skip: skipRedis },
    async () => {
      const gw = await startGateway({ REDIS_URL: redis!.url, REDIS_KEY_PREFIX: `catchup-${randomUUID().slice(0, 8)}:`, HISTORY_MAX_EVENTS: "1000" });
      try {
        await eventually(() => gw.gateway.bus.health().ready, 10_000, "the Redis bus ready");
        const growth = await catchUpGrowth(gw, gw.gateway.bus);
      assert.ok(growth.heapMB < 16 && growth.rssMB < 16, `grew by ${JSON.stringify(growth)} MB`);
      } finally {
        await gw.stop();
      }
    },
  );
});

