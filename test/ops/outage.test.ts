import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { follow, type FollowingClient } from "../support/following-client.ts";
import { startFront, type Front } from "../support/front.ts";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.ts";
import { publish, token } from "../support/gateway.ts";
import { killableRedisSkipReason, startTestRedis } from "../support/redis-server.ts";
import { eventually, readyz } from "../support/wait.ts";

// Redis lost behind two instances, as an ALB in front of them sees it. The outage lasts well past
// the Redis command timeout and the bus's reconnect backoff; the front checks /healthz every
// 200 ms, some 150 times an instance during it, where an ALB (10 s interval, 2 failures) would
// replace an instance after two failed checks: one failed check here is already a failure.
const OUTAGE_MS = 30_000;
const CLIENTS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isData = (event: { event?: string }) => !event.event?.startsWith("gateway.");

describe("a Redis outage behind a load balancer", { skip: killableRedisSkipReason(), timeout: 90_000 }, () => {
  test("the health check stays 200, no stream is cut, /readyz says why, and every accepted event arrives once after", async () => {
    const redis = await startTestRedis({ persistent: true });
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `outage-${randomUUID().slice(0, 8)}:`, RETRY_MS: "300", RETRY_JITTER_MS: "300" };
    const instances: GatewayProcess[] = [];
    const clients: FollowingClient[] = [];
    let front: Front | undefined;
    const checks: { upstream: string; status: number; at: number }[] = [];
    try {
      instances.push(await startGatewayProcess("A", env), await startGatewayProcess("B", env));
      front = await startFront(instances, { healthPath: "/healthz", onHealthCheck: (upstream, status) => checks.push({ upstream, status, at: Date.now() }) });
      for (let i = 0; i < CLIENTS; i++) clients.push(follow(front.url, await token({ sub: `o${i}`, topics: ["feed"] }), ["feed"]));
      await eventually(() => clients.every((client) => client.visits[0]?.status === 200), 10_000, "every client connected");
      assert.deepEqual(new Set(front.streams.map((stream) => stream.upstream)), new Set(["A", "B"]), "streams on both instances");

      const accepted: number[] = [];
      const refused: number[] = [];
      let n = 0;
      const publishOne = async () => {
        const answer = await publish(instances[n % 2]!.url, { topics: ["feed"], type: "tick", data: { n } });
        if (answer.status === 202) accepted.push(n);
        else {
          assert.equal(answer.status, 503, `a refusal during the outage is a 503: ${JSON.stringify(answer.body)}`);
          refused.push(n);
        }
        n++;
      };
      for (let i = 0; i < 10; i++) await publishOne();

      await redis.kill();
      const killedAt = Date.now();
      let diagnosed = false;
      while (Date.now() - killedAt < OUTAGE_MS) {
        await publishOne();
        const ready = await readyz(instances[0]!.url);
        if (ready.status === 503 && ready.body.failing.some((check) => check.name === "bus")) diagnosed = true;
        await sleep(200);
      }
      await redis.start();
      const restartedAt = Date.now();
      await eventually(async () => (await publish(instances[0]!.url, { topics: ["feed"], type: "probe" })).status === 202, 15_000, "publishing again");
      for (let i = 0; i < 10; i++) await publishOne();
      const last = accepted.at(-1)!;
      await eventually(() => clients.every((client) => client.events().some((event) => isData(event) && event.event === "tick" && JSON.parse(event.data).n === last)), 10_000, "the last event everywhere");

      const duringOutage = checks.filter((check) => check.at > killedAt && check.at < restartedAt);
      assert.ok(duringOutage.length >= 2 * (OUTAGE_MS / 200) * 0.7, `the front kept checking (${duringOutage.length} checks)`);
      assert.deepEqual(checks.filter((check) => check.status !== 200), [], "no health check failed");
      assert.ok(diagnosed, "/readyz named the bus as failing during the outage");
      assert.ok(refused.length > 0, "publishes during the outage were refused");
      assert.deepEqual(front.streams.filter((stream) => stream.endedAt !== undefined), [], "no stream was cut or ended");
      for (const client of clients) {
        assert.equal(client.visits.length, 1, "one connection from start to end");
        const ticks = client.events().filter((event) => event.event === "tick").map((event) => JSON.parse(event.data).n as number);
        assert.deepEqual(ticks, accepted, "every accepted event once, in order; none refused");
      }
    } finally {
      await Promise.all(clients.map((client) => client.stop()));
      await front?.close();
      await Promise.all(instances.map((instance) => instance.stop()));
      await redis.stop();
    }
  });
});
