import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
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

  test("entries held by an instance that died are taken back and delivered", async () => {
    const prefix = `test-orphan-${Date.now()}:`;
    // What a killed instance leaves: an entry in its processing list and no alive key.
    await admin.lpush(`${prefix}inbox:processing:gone`, JSON.stringify({ users: ["ned"], type: "job.done", data: { n: 7 }, id: "job-7" }));
    const group = await startGatewayGroup(redis.url, 1, { REDIS_KEY_PREFIX: prefix });
    try {
      await eventually(async () => (await admin.exists(`${prefix}inbox:processing:gone`)) === 0, 5000, "the orphaned list to be taken back");
      const client = await connectSse(group.instances[0]!.url, { token: await token({ sub: "ned" }), lastEventId: "0-0" });
      const [event] = await client.waitFor(1, (received) => received.event === "job.done");
      assert.equal(JSON.parse(event!.data).n, 7);
      client.close();
    } finally {
      await group.stop();
    }
  });
});
