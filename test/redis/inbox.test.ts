import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import type { FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { Publisher } from "../../src/events/publisher.ts";
import { RedisInbox, type InboxDeadLetterReason } from "../../src/ingest/redis-inbox.ts";
import { token } from "../support/gateway.ts";
import { startGatewayGroup } from "../support/redis-cluster.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse, type ReceivedEvent } from "../support/sse-client.ts";
import { eventually } from "../support/wait.ts";

let redis: TestRedis;
let admin: Redis;
before(async () => {
  redis = await startTestRedis();
  admin = new Redis(redis.url);
});
after(async () => {
  admin.disconnect();
  await redis.stop();
});

const numbers = (events: readonly ReceivedEvent[]) => events.map((event) => JSON.parse(event.data).n as number);

describe("the Redis inbox list", { timeout: 60_000 }, () => {
  test("each pushed publish body is delivered once across instances; bad entries go to the dead-letter list as they came", async () => {
    const group = await startGatewayGroup(redis.url, 2);
    const prefix = group.env.REDIS_KEY_PREFIX!;
    const client = await connectSse(group.instances[0]!.url, { token: await token({ sub: "mia", topics: ["*"] }), topics: ["jobs"] });
    try {
      const bad = ["not json", JSON.stringify({ type: "job.done", data: {} }), JSON.stringify({ users: ["mia"], type: "gateway.fake" })];
      const good = [...Array(40).keys()].map((n) => JSON.stringify({ users: ["mia"], topics: ["jobs"], type: "job.done", data: { n } }));
      for (const [i, entry] of good.entries()) {
        await admin.lpush(`${prefix}inbox`, entry);
        if (i % 14 === 0) await admin.lpush(`${prefix}inbox`, bad[i / 14]!);
      }
      await client.waitFor(40);
      await new Promise((resolve) => setTimeout(resolve, 300)); // room for a repeat to show up
      assert.deepEqual(numbers(client.events).sort((x, y) => x - y), [...Array(40).keys()]);
      assert.deepEqual((await admin.lrange(`${prefix}inbox:dead`, 0, -1)).sort(), [...bad].sort());
      assert.equal(await admin.llen(`${prefix}inbox`), 0);
      const processing = await admin.keys(`${prefix}inbox:processing:*`);
      for (const list of processing) assert.equal(await admin.llen(list), 0, `${list} is settled`);
    } finally {
      client.close();
      await group.stop();
    }
  });

  test("entries held by an instance that died are taken back and delivered, found through the registry without scanning keys", async () => {
    const prefix = `test-orphan-${Date.now()}:`;
    // What a killed instance leaves: an entry in its processing list and a heartbeat long past.
    await admin.lpush(`${prefix}inbox:processing:gone`, JSON.stringify({ users: ["ned"], type: "job.done", data: { n: 7 }, id: "job-7" }));
    await admin.zadd(`${prefix}inbox:instances`, 1, "gone");
    await admin.config("RESETSTAT");
    const group = await startGatewayGroup(redis.url, 1, { REDIS_KEY_PREFIX: prefix });
    try {
      await eventually(async () => (await admin.exists(`${prefix}inbox:processing:gone`)) === 0, 5000, "the orphaned list to be taken back");
      assert.equal(await admin.zscore(`${prefix}inbox:instances`, "gone"), null, "the dead instance left the registry");
      assert.doesNotMatch(await admin.info("commandstats"), /cmdstat_scan/);
      const client = await connectSse(group.instances[0]!.url, { token: await token({ sub: "ned" }), lastEventId: "0-0" });
      const [event] = await client.waitFor(1, (received) => received.event === "job.done");
      assert.equal(JSON.parse(event!.data).n, 7);
      client.close();
    } finally {
      await group.stop();
    }
  });
});

const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
const RETENTION = { maxEvents: 100, maxAgeMs: 600_000, idempotencyWindowMs: 600_000 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One instance's bus and inbox; publishes can be slowed down to catch a stop in the middle of one. */
async function startInstance(prefix: string, publishDelayMs = 0) {
  const config = { url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 };
  const bus = new RedisBus(config, RETENTION, log);
  bus.attach({ deliver: () => undefined, resync: () => undefined });
  await eventually(() => bus.health().ready, 5000, "the bus to connect");
  const publisher = new Publisher(bus, () => undefined);
  const slow = Object.assign(Object.create(publisher) as Publisher, {
    publish: async (...args: Parameters<Publisher["publish"]>) => {
      await sleep(publishDelayMs);
      return publisher.publish(...args);
    },
  });
  const deadLetters: InboxDeadLetterReason[] = [];
  const inbox = new RedisInbox({ config, publisher: slow, maxEventBytes: 65_536, log, observer: { deadLettered: (reason) => deadLetters.push(reason) } });
  inbox.start();
  return {
    bus,
    inbox,
    deadLetters,
    async stop() {
      await inbox.stop();
      await bus.close();
    },
  };
}

describe("the Redis inbox: shutdown and failures", { timeout: 60_000 }, () => {
  test("stop() finishes the entry whose publish is in flight, removal included: no other instance publishes it again", async () => {
    const prefix = `test-stop-${Date.now()}:`;
    const first = await startInstance(prefix, 400);
    const start = await first.bus.head();
    await admin.lpush(`${prefix}inbox`, JSON.stringify({ users: ["sam"], type: "job.done", data: { n: 1 } }));
    await eventually(async () => (await admin.llen(`${prefix}inbox`)) === 0, 5000, "the entry to be taken");
    await first.stop();
    assert.equal(await admin.llen(`${prefix}inbox`), 0, "nothing handed back");
    const second = await startInstance(prefix);
    try {
      await sleep(500);
      const page = await second.bus.readPage(["u:sam"], start, { maxEvents: 10, maxBytes: 1 << 20 });
      assert.equal(page.events.length, 1, "published once");
    } finally {
      await second.stop();
    }
  });

  test("an entry the bus refuses for good goes to the dead-letter list, counted, while the entries behind it flow", async () => {
    const prefix = `test-refused-${Date.now()}:`;
    await admin.set(`${prefix}ids:u:broken`, "not a stream");
    const instance = await startInstance(prefix);
    try {
      const start = await instance.bus.head();
      const refused = JSON.stringify({ users: ["broken"], type: "job.done", data: { n: 0 } });
      await admin.lpush(`${prefix}inbox`, refused);
      for (let n = 1; n <= 5; n++) await admin.lpush(`${prefix}inbox`, JSON.stringify({ users: ["fine"], type: "job.done", data: { n } }));
      await eventually(async () => (await instance.bus.readPage(["u:fine"], start, { maxEvents: 10, maxBytes: 1 << 20 })).events.length === 5, 5000, "the entries behind it");
      assert.deepEqual(await admin.lrange(`${prefix}inbox:dead`, 0, -1), [refused]);
      assert.deepEqual(instance.deadLetters, ["rejected"]);
      const everything = await instance.bus.readPage(["*"], start, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(everything.events.length, 5, "the refused publish wrote nothing");
    } finally {
      await instance.stop();
    }
  });
});
