import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sleep } from "../../bench/lib/clock.ts";
import { LoadFleet } from "../../bench/load/load-fleet.ts";
import { Publisher } from "../../bench/load/publisher.ts";
import { payload } from "../../bench/load/worker-protocol.ts";
import { runClusterScenario } from "../../bench/scenarios/cluster.ts";
import { runGatewayExtras } from "../../bench/scenarios/gateway-extras.ts";
import type { BenchPlan } from "../../bench/scenarios/plan.ts";
import { runServerScenarios } from "../../bench/scenarios/server-scenarios.ts";
import { contenders } from "../../bench/servers/contenders.ts";
import { freePort, startServerProcess } from "../../bench/servers/server-process.ts";
import { WRITER_VARIANTS } from "../../bench/writers/variants.ts";

/** The harness end to end at a tiny size: real servers, real load workers, real sockets. */
const TINY_PLAN: BenchPlan = {
  mode: "quick",
  repetitions: 1,
  idleLevels: [30, 60],
  broadcastStreams: 40,
  broadcastRates: [5],
  userStreams: 40,
  userRates: [50],
  rateDurationMs: 1_000,
  clusterStreams: 40,
  clusterRates: [5],
  manyUsers: 20,
  manyUsersRates: [5],
};

let fleet: LoadFleet;
before(() => {
  fleet = new LoadFleet(2);
});
after(() => fleet.stop());

for (const contender of contenders()) {
  test(`${contender.kind}: scenarios A, B and C deliver every event and measure it`, { timeout: 60_000 }, async (t) => {
    if (contender.unavailable !== undefined) {
      if (process.env.CI) assert.fail(contender.unavailable);
      t.skip(contender.unavailable);
      return;
    }
    const run = await runServerScenarios(contender, fleet, TINY_PLAN, () => undefined);
    assert.deepEqual(run.idle.map((figures) => [figures.streams, figures.failed]), [[30, 0], [60, 0]]);
    // Tens of streams move PSS by a few pages either way (the heap may shrink): a figure, not its sign.
    assert.ok(run.idle.every((figures) => Number.isFinite(figures.bytesPerStream) && figures.openCpuMsPer1k >= 0));
    for (const [scenario, fanOut] of [["broadcast", 40], ["per-user", 1]] as const) {
      const [step] = run.rates[scenario];
      assert.ok(step, `${scenario} measured`);
      assert.equal(step.deliveredShare, 1, `${scenario}: every event reached its streams: ${JSON.stringify(step)}`);
      assert.equal(step.rejectedPublishes, 0);
      assert.ok(Math.abs(step.deliveriesPerSecond - step.rate * fanOut) <= step.rate * fanOut * 0.2, `${scenario}: ${step.deliveriesPerSecond} deliveries/s`);
      assert.ok(step.p50Ms > 0 && step.p50Ms <= step.p99Ms && step.p99Ms < 2_000, `${scenario}: p50 ${step.p50Ms}, p99 ${step.p99Ms}`);
      assert.equal(step.saturated, false);
    }
  });
}

test("scenario D: two gateways through Redis deliver every event, sent over HTTP or SQS, to the streams of both", { timeout: 90_000 }, async (t) => {
  const outcome = await runClusterScenario(TINY_PLAN, fleet, () => undefined);
  if (!outcome.paths) {
    if (process.env.CI) assert.fail(outcome.markdown);
    t.skip(outcome.markdown);
    return;
  }
  // Each path, its rate and its deliveries/s: 40 streams on the topic, 40 users, an event to 20 users.
  const expected: [string, number, number][] = [
    ["HTTP publish to gateway 1", 5, 200],
    ["SQS (EventBridge event) to either gateway", 5, 200],
    ["SQS, per user (40 users), to random users", 50, 50],
    ["one event to 20 users (HTTP to gateway 1)", 5, 100],
  ];
  assert.deepEqual(outcome.paths.map((path) => path.name), expected.map(([name]) => name));
  for (const [index, path] of outcome.paths.entries()) {
    const [step] = path.steps;
    assert.ok(step, outcome.markdown);
    assert.equal(step.deliveredShare, 1, `${path.name}: ${JSON.stringify(step)}`);
    assert.ok(step.p50Ms > 0 && step.p99Ms < 2_000 && !step.saturated, `${path.name}: ${JSON.stringify(step)}`);
    assert.ok(step.redisCpuPercent >= 0 && step.redisCpuPercent <= step.serverCpuPercent, `${path.name}: Redis's share of the CPU`);
    const [, rate, deliveries] = expected[index]!;
    // Deliveries/s are counted over the time they took to arrive: one late delivery makes 49 of 50.
    assert.ok(Math.abs(step.deliveriesPerSecond - deliveries) <= deliveries * 0.2, `${path.name}: ${step.deliveriesPerSecond} deliveries/s`);
    assert.match(outcome.markdown, new RegExp(`\\| ${path.name.replace(/[()]/g, "\\$&")} \\| ${rate} \\| \\d+ \\|`));
  }
  assert.match(outcome.markdown, /KiB per instance per event/);
});

test("scenario E: the gateway with the defaults and with batch publish delivers every event; token verification is measured", { timeout: 90_000 }, async () => {
  const extras = await runGatewayExtras(TINY_PLAN, fleet, () => undefined);
  assert.ok(extras.tokenVerifyCpuMsPer1k > 0);
  assert.deepEqual(extras.variants.map((variant) => variant.name), ["defaults, POST /publish", "tuned, POST /publish/batch"]);
  for (const variant of extras.variants) {
    const [step] = variant.steps;
    assert.ok(step, variant.name);
    assert.equal(step.deliveredShare, 1, `${variant.name}: ${JSON.stringify(step)}`);
    assert.equal(step.rejectedPublishes, 0, variant.name);
    assert.ok(Number.isFinite(variant.bytesPerStream) && variant.openCpuMsPer1k >= 0, variant.name);
  }
});

for (const variant of WRITER_VARIANTS) {
  test(`SSE writer ${variant}: every stream gets every event`, { timeout: 30_000 }, async () => {
    const port = await freePort();
    const server = await startServerProcess(process.execPath, ["bench/writers/writer-server.ts", variant], { PORT: String(port) }, port, "/healthz");
    const publisher = new Publisher("bare-node", port, "");
    try {
      assert.deepEqual(await fleet.open("bare-node", port, "", 6, "topic"), { failed: 0 });
      await fleet.reset();
      for (let i = 0; i < 3; i++) assert.equal(await publisher.publishOne({ topic: "bench" }, payload(i, "p")), undefined);
      let report = await fleet.report();
      for (let waited = 0; report.deliveries < 18 && waited < 5_000; waited += 50) {
        await sleep(50);
        report = await fleet.report();
      }
      assert.equal(report.deliveries, 18);
    } finally {
      publisher.close();
      await fleet.closeAll();
      await server.stop();
    }
  });
}
