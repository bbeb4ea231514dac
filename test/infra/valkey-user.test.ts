import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { Redis } from "ioredis";
import { ConfigError } from "../../src/config/env-reader.ts";
import { loadConfig } from "../../src/config/config.ts";
import { GATEWAY_ACCESS_STRING, GATEWAY_USERNAME, KEY_PREFIX } from "../../infra/redis-cluster.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { eventually, readyz } from "../support/wait.ts";

const randomSecret = () => new Uint8Array(32);
const redisUrlOf = (env: Record<string, string>) => loadConfig({ REDIS_URL: "rediss://cache.example:6379", ...env }, randomSecret).redis?.url;

describe("REDIS_USERNAME and REDIS_PASSWORD", () => {
  test("reach the Redis client exactly as given, whatever characters they hold", () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 40 });
    fc.assert(fc.property(printable, fc.oneof(printable, fc.string({ unit: "grapheme", minLength: 1 })), (username, password) => {
      fc.pre(username.trim() === username && password.trim() === password);
      const client = new Redis(redisUrlOf({ REDIS_USERNAME: username, REDIS_PASSWORD: password })!, { lazyConnect: true });
      assert.equal(client.options.username, username);
      assert.equal(client.options.password, password);
      assert.equal(client.options.host, "cache.example");
    }), { numRuns: 300 });
  });

  test("a password alone logs in as the default user", () => {
    const client = new Redis(redisUrlOf({ REDIS_PASSWORD: "only-a-password" })!, { lazyConnect: true });
    assert.equal(client.options.password, "only-a-password");
    assert.ok(!client.options.username);
  });

  const wrong: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_USERNAME: "gateway" }, /REDIS_USERNAME needs REDIS_PASSWORD/],
    [{ REDIS_URL: "rediss://user:pw@cache.example:6379", REDIS_PASSWORD: "x" }, /REDIS_URL already holds credentials/],
  ];
  for (const [env, message] of wrong) {
    test(`refuses ${JSON.stringify(env)} with a clear message`, () => {
      assert.throws(() => redisUrlOf(env), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }

  test("are ignored without REDIS_URL, as every Redis setting is", () => {
    assert.equal(loadConfig({ REDIS_PASSWORD: "x" }, randomSecret).redis, undefined);
  });
});

// The user the CDK app creates, on a real redis-server: the gateway works with exactly its access
// string, and a client that does not log in, or logs in wrongly, can do nothing.
describe("the gateway as the stack's Valkey user", { timeout: 60_000 }, () => {
  const password = "p@ss:w/rd%41 with spaces?#&=";
  let redis: TestRedis;
  let admin: Redis;
  const gateways: RunningGateway[] = [];

  before(async () => {
    redis = await startTestRedis();
    admin = new Redis(redis.url);
    await admin.call("ACL", "SETUSER", GATEWAY_USERNAME, "reset", `>${password}`, ...GATEWAY_ACCESS_STRING.split(" "));
    await admin.call("ACL", "SETUSER", "admin", "on", ">admin-password", "~*", "&*", "+@all");
    await admin.auth("admin", "admin-password");
    await admin.call("ACL", "SETUSER", "default", "off");
  });
  after(async () => {
    for (const gateway of gateways) await gateway.stop();
    admin.disconnect();
    await redis.stop();
  });

  async function gatewayAs(env: Record<string, string>): Promise<RunningGateway> {
    const gateway = await startGateway({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: KEY_PREFIX, ...env });
    gateways.push(gateway);
    return gateway;
  }

  test("publishes, delivers and replays history with only the user's rights", async () => {
    const gateway = await gatewayAs({ REDIS_USERNAME: GATEWAY_USERNAME, REDIS_PASSWORD: password });
    await eventually(async () => (await readyz(gateway.url)).status === 200, 10_000, "readiness as the gateway user");
    const stream = await connectSse(gateway.url, { token: await token({ sub: "kim" }) });
    const sent = await publish(gateway.url, { users: ["kim"], type: "tick", data: { n: 1 } });
    assert.equal(sent.status, 202);
    const [event] = await stream.waitFor(1, (received) => received.event === "tick", 5000);
    assert.deepEqual(JSON.parse(event!.data), { n: 1 });
    stream.close();
    assert.equal((await publish(gateway.url, { users: ["kim"], type: "tick", data: { n: 2 } })).status, 202);
    const resumed = await connectSse(gateway.url, { token: await token({ sub: "kim" }), lastEventId: event!.id });
    const [missed] = await resumed.waitFor(1, (received) => received.event === "tick", 5000);
    assert.deepEqual(JSON.parse(missed!.data), { n: 2 }, "history read back from Redis");
    resumed.close();
    const keys = await admin.keys("*");
    assert.ok(keys.length > 0 && keys.every((key) => key.startsWith(KEY_PREFIX)), `keys ${keys.join(", ")}`);
  });

  test("may not touch other keys nor run dangerous commands", async () => {
    const client = new Redis(redis.url, { username: GATEWAY_USERNAME, password, maxRetriesPerRequest: 0 });
    try {
      await assert.rejects(client.set("other:key", "1"), /NOPERM/);
      await assert.rejects(client.flushall(), /NOPERM/);
      await assert.rejects(client.call("CONFIG", "GET", "*"), /NOPERM/);
      await assert.rejects(client.publish("other-channel", "x"), /NOPERM/);
    } finally {
      client.disconnect();
    }
  });

  test("a wrong password leaves the gateway up and not ready, saying why, without the password", async () => {
    const gateway = await gatewayAs({ REDIS_USERNAME: GATEWAY_USERNAME, REDIS_PASSWORD: "wrong-password-123" });
    const answer = await eventually(async () => {
      const check = await readyz(gateway.url);
      return check.status === 503 && check.body.failing.some((failing) => /WRONGPASS|invalid username-password/i.test(failing.reason)) && check;
    }, 10_000, "readiness failing on the wrong password");
    assert.doesNotMatch(JSON.stringify(answer.body), /wrong-password-123/);
    assert.equal((await publish(gateway.url, { users: ["kim"], type: "tick", data: {} })).status, 503);
  });

  test("without logging in, nothing is allowed", async () => {
    const anonymous = new Redis(redis.url, { maxRetriesPerRequest: 0, enableReadyCheck: false, retryStrategy: () => null });
    anonymous.on("error", () => undefined);
    try {
      await assert.rejects(anonymous.get(`${KEY_PREFIX}x`), /NOAUTH|NOPERM|disabled|WRONGPASS/i);
    } finally {
      anonymous.disconnect();
    }
  });
});
