import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DRAINING_EVENT } from "../../src/hub/hub.ts";
import { startElbStandIn, startTaskMetadata, type ElbStandIn, type TaskMetadataStandIn } from "../support/aws-stand-ins.ts";
import { follow, type FollowingClient } from "../support/following-client.ts";
import { startFront, type Front } from "../support/front.ts";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.ts";
import { publish, token } from "../support/gateway.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventually } from "../support/wait.ts";

// A rolling deploy on ECS behind an ALB, in the order ECS runs it: the leaving task is
// deregistered (its target turns `draining`, the load balancer sends it no new requests but keeps
// its streams), the deregistration delay passes, the load balancer cuts whatever is left, and
// only then does ECS send SIGTERM. AWS itself cannot run here: the load balancer is the test
// front, its API is a stand-in speaking the ELB wire protocol to the gateway's real AWS SDK
// client, and the task metadata endpoint is a stand-in too.
const ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gateway/0123456789abcdef";
// Long enough that the drain window (less a poll, the 1 s margin, the sources settling) dwarfs timer slack.
const DEREGISTRATION_DELAY_MS = 6000;
const POLL_MS = 200;
const CLIENTS = 30;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isData = (event: { event?: string }) => !event.event?.startsWith("gateway.");

describe("rolling deploy on ECS behind an ALB", { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let elb: ElbStandIn;
  const metadata: TaskMetadataStandIn[] = [];
  before(async () => {
    redis = await startTestRedis();
    elb = await startElbStandIn(ARN);
  });
  after(async () => {
    await Promise.all(metadata.map((endpoint) => endpoint.close()));
    await elb?.close();
    await redis?.stop();
  });

  async function startTask(name: string, keyPrefix: string, metadataUri?: string): Promise<GatewayProcess> {
    const endpoint = await startTaskMetadata("127.0.0.1");
    metadata.push(endpoint);
    const task = await startGatewayProcess(name, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: keyPrefix,
      RETRY_MS: "300",
      RETRY_JITTER_MS: "300",
      LOG_LEVEL: "info",
      // What the CDK app passes, and what ECS and the SDK find in a task.
      TARGET_GROUP_ARN: ARN,
      DEREGISTRATION_DELAY_MS: String(DEREGISTRATION_DELAY_MS),
      TARGET_HEALTH_POLL_MS: String(POLL_MS),
      ECS_CONTAINER_METADATA_URI_V4: metadataUri ?? endpoint.uri,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elb.url,
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    });
    elb.setState(targetOf(task), "healthy");
    return task;
  }

  interface Deploy {
    readonly deregisteredAt: number;
    readonly cutAt: number;
    /** Streams of A the front still had to cut when the delay ended. */
    readonly cut: number;
    readonly exit: { code: number | null; signal: NodeJS.Signals | null };
    readonly exitedAt: number;
    readonly clients: readonly FollowingClient[];
    readonly published: readonly number[];
    readonly front: Front;
    readonly leaving: GatewayProcess;
  }

  /**
   * Clients on A, B joins, events keep coming; then ECS replaces A: deregistration, the delay,
   * the cut, SIGTERM. Runs check once every client is back on B with the last event.
   */
  async function rollingDeploy(watcherWorks: boolean, check: (deploy: Deploy) => void): Promise<void> {
    const prefix = `ecs-${randomUUID().slice(0, 8)}:`;
    const leaving = await startTask("A", prefix, watcherWorks ? undefined : `${elb.url}/no-metadata-here`);
    const staying = await startTask("B", prefix);
    let front: Front | undefined;
    const clients: FollowingClient[] = [];
    let publishing = true;
    const published: number[] = [];
    try {
      const watching = watcherWorks ? /watching this task's target/ : /task metadata endpoint failed; retrying/;
      await eventually(() => watching.test(leaving.output()), 10_000, "A's watcher to start");
      front = await startFront([leaving], { healthPath: "/healthz" });
      for (let i = 0; i < CLIENTS; i++) clients.push(follow(front.url, await token({ sub: `c${i}`, topics: ["feed"] }), ["feed"]));
      await eventually(() => clients.every((client) => client.visits[0]?.status === 200), 10_000, "every client on A");
      front.setUpstreams([leaving, staying]);
      const publisher = (async () => {
        for (let n = 0; publishing; n++) {
          const answer = await publish(staying.url, { topics: ["feed"], type: "tick", data: { n } });
          assert.equal(answer.status, 202);
          published.push(n);
          await sleep(40);
        }
      })();
      let exitedAt = Infinity;
      void leaving.exited.then(() => (exitedAt = Date.now()));
      await sleep(300);

      // ECS deregisters A: the target drains, the load balancer routes new requests elsewhere.
      const deregisteredAt = Date.now();
      elb.setState(targetOf(leaving), "draining");
      front.setUpstreams([staying]);
      await sleep(DEREGISTRATION_DELAY_MS);
      // The delay is over: the load balancer cuts what is left, then ECS sends SIGTERM.
      const cutAt = Date.now();
      const cut = front.cut("A");
      leaving.signal("SIGTERM");
      const exit = await leaving.exited;

      await eventually(() => clients.every((client) => client.visits.filter((visit) => visit.status === 200).length >= 2), 15_000, "every client back on B");
      await sleep(300);
      publishing = false;
      await publisher;
      const last = published.at(-1)!;
      await eventually(() => clients.every((client) => client.events().filter(isData).some((event) => JSON.parse(event.data).n === last)), 10_000, "the last event everywhere");
      check({ deregisteredAt, cutAt, cut, exit, exitedAt, clients, published, front, leaving });
    } finally {
      publishing = false;
      await Promise.all(clients.map((client) => client.stop()));
      await front?.close();
      await leaving.stop();
      await staying.stop();
    }
  }

  function assertNothingLost(deploy: Deploy): void {
    for (const client of deploy.clients) {
      const received = client.events().filter(isData).map((event) => JSON.parse(event.data).n as number);
      assert.deepEqual(received, deploy.published.filter((n) => n >= received[0]!), "every event once and in order after the first");
      assert.ok(received[0]! <= deploy.published[Math.floor(deploy.published.length / 4)]!, "the client was there well before the deploy");
    }
    const returns = deploy.front.streams.filter((stream) => stream.upstream === "B");
    assert.ok(returns.every((stream) => stream.lastEventId !== undefined), "every reconnect resumed with Last-Event-ID");
  }

  test("the leaving task ends every stream with gateway.draining and spread retries before the cut, and no client loses an event", async () => {
    await rollingDeploy(true, (deploy) => {
      const { cut, exit, exitedAt, cutAt, deregisteredAt, front, leaving } = deploy;
      assert.equal(cut, 0, "the load balancer had nothing left to cut");
      assert.deepEqual(exit, { code: 0, signal: null }, `A exits by itself after its drain:\n${leaving.output()}`);
      assert.ok(exitedAt < cutAt, "A was gone before the deregistration delay ended (SIGTERM found nothing)");
      const onLeaving = front.streams.filter((stream) => stream.upstream === "A");
      assert.equal(onLeaving.length, CLIENTS);
      for (const stream of onLeaving) {
        assert.equal(stream.endedBy, "upstream", "ended by the gateway, not cut");
        assert.ok(stream.endedAt! < cutAt && stream.endedAt! > deregisteredAt);
      }
      const retries: number[] = [];
      const endings: number[] = [];
      for (const client of deploy.clients) {
        const first = client.visits[0]!;
        assert.equal(first.events.at(-1)?.event, DRAINING_EVENT, "the stream on A ended with gateway.draining");
        retries.push(first.retries.at(-1)!);
        endings.push(first.endedAt! - deregisteredAt);
      }
      // Spread: the streams ended over a good part of the delay, and came back at different times.
      endings.sort((a, b) => a - b);
      assert.ok(endings.at(-1)! - endings[0]! >= DEREGISTRATION_DELAY_MS / 4, `endings spread over ${endings[0]}..${endings.at(-1)} ms`);
      assert.ok(new Set(retries).size >= CLIENTS * 0.8, `retry hints differ: ${retries}`);
      const returns = front.streams.filter((stream) => stream.upstream === "B").map((stream) => stream.at - deregisteredAt).sort((a, b) => a - b);
      assert.ok(returns.at(-1)! - returns[0]! >= DEREGISTRATION_DELAY_MS / 4, `reconnects arrive over ${returns[0]}..${returns.at(-1)} ms`);
      assertNothingLost(deploy);
    });
  });

  test("a task that cannot watch its target (no metadata) is cut by the load balancer; SIGTERM still ends it cleanly and no client loses an event", async () => {
    await rollingDeploy(false, (deploy) => {
      assert.equal(deploy.cut, CLIENTS, "without the watcher every stream lasts until the cut");
      assert.deepEqual(deploy.exit, { code: 0, signal: null }, `A exits 0 after SIGTERM:\n${deploy.leaving.output()}`);
      assert.ok(deploy.exitedAt >= deploy.cutAt);
      for (const client of deploy.clients) assert.notEqual(client.visits[0]!.events.at(-1)?.event, DRAINING_EVENT, "cut, not drained");
      // The connect-time jitter (RETRY_MS 300 + up to 300) still spreads the reconnects of the cut.
      const retries = deploy.clients.map((client) => client.visits[0]!.retries[0]!);
      assert.ok(new Set(retries).size >= CLIENTS * 0.8, `connect-time retry hints differ: ${retries}`);
      assertNothingLost(deploy);
    });
  });
});

function targetOf(task: GatewayProcess): string {
  return `127.0.0.1:${new URL(task.url).port}`;
}
