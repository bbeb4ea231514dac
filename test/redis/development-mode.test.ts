import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { spawnGateway, type ChildGateway } from "../support/child-gateway.ts";
import { publish } from "../support/gateway.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse } from "../support/sse-client.ts";

describe("development mode on Redis (REDIS_URL, no JWT configuration)", () => {
  let redis: TestRedis;
  let gateway: ChildGateway;
  const prefix = `dev-mode-${process.pid}:`;
  before(async () => {
    redis = await startTestRedis();
    gateway = spawnGateway({ PORT: "0", HOST: "127.0.0.1", REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
  });
  after(async () => {
    gateway.kill("SIGKILL");
    await gateway.exited;
    await redis.stop();
  });

  it("starts, and its banner names the Redis bus and the inbox", async () => {
    const [, bus] = await gateway.waitForOutput(/Bus: +(.+)\n/);
    assert.match(bus!, new RegExp(`^Redis at redis://[^ ]+ \\(key prefix ${prefix}\\)$`));
    const [, sources] = await gateway.waitForOutput(/Sources: +(.+)\n/);
    assert.equal(sources, `HTTP (POST /publish), Redis inbox (LPUSH ${prefix}inbox)`);
  });

  it("its printed tokens work through Redis", async () => {
    const [, url] = await gateway.waitForOutput(/Listening on: +(\S+)\n/);
    const [, subscriber] = await gateway.waitForOutput(/Subscriber token: +(\S+)\n/);
    const [, publisher] = await gateway.waitForOutput(/Publisher token: +(\S+)\n/);
    const stream = await connectSse(url!, { token: subscriber! });
    assert.equal(stream.status, 200);
    assert.equal((await publish(url!, { users: ["demo-user"], type: "greeting" }, publisher!)).status, 202);
    await stream.waitFor(1);
    stream.close();
  });
});
