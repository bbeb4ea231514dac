import { sleep } from "../lib/clock.ts";
import { sampleTree } from "../lib/proc-stats.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import { Publisher } from "../load/publisher.ts";
import type { Contender } from "../servers/contenders.ts";
import type { Target } from "../servers/protocol.ts";
import type { RunningServer } from "../servers/server-process.ts";
import type { BenchPlan } from "./plan.ts";
import { measureRate } from "./rate-step.ts";
import type { IdleFigures, RateFigures, ServerRun } from "./results.ts";

const TOPIC = "bench";
/** Lets a freshly started server settle (JIT, lazy allocations) before its baseline is taken. */
const SETTLE_MS = 500;
/** Events sent before the measured rates, so that no server is measured while cold. */
const WARM_UP = { rate: 10, durationMs: 1_000 };

export type Progress = (line: string) => void;

/** Scenario A: opens streams up to each idle level, measuring memory per stream and CPU to open. */
async function idleScenario(server: RunningServer, contender: Contender, fleet: LoadFleet, plan: BenchPlan, progress: Progress): Promise<IdleFigures[]> {
  await sleep(SETTLE_MS);
  const baseline = sampleTree(server.pid);
  const figures: IdleFigures[] = [];
  let open = 0;
  let failed = 0;
  for (const level of plan.idleLevels) {
    const before = sampleTree(server.pid);
    const outcome = await fleet.open(contender.kind, server.port, contender.secret, level - open, "topic", TOPIC);
    if (outcome.firstError) progress(`  ${outcome.failed} streams failed to open: ${outcome.firstError}`);
    failed += outcome.failed;
    // Let buffers the open burst grew be given back before memory is read.
    await sleep(SETTLE_MS);
    const after = sampleTree(server.pid);
    const held = (await fleet.report()).open;
    figures.push({
      streams: level,
      failed,
      bytesPerStream: (after.pssBytes - baseline.pssBytes) / Math.max(1, held),
      openCpuMsPer1k: ((after.cpuSeconds - before.cpuSeconds) * 1000 * 1000) / Math.max(1, level - open),
    });
    progress(`  A ${level} streams: ${held} held, ${(figures.at(-1)!.bytesPerStream / 1024).toFixed(1)} KiB/stream`);
    open = level;
  }
  return figures;
}

/** One of the rate scenarios (B or C) on a server whose streams are open. */
interface RateScenarioRun {
  readonly label: string;
  readonly rates: readonly number[];
  readonly fanOut: number;
  readonly targetOf: (sequence: number) => Target;
}

async function rateScenario(
  server: RunningServer,
  fleet: LoadFleet,
  publisher: Publisher,
  plan: BenchPlan,
  { label, rates, fanOut, targetOf }: RateScenarioRun,
  progress: Progress,
): Promise<RateFigures[]> {
  await publisher.run(WARM_UP.rate, WARM_UP.durationMs, targetOf);
  // Warm-up events still on their way must not be counted in the first measured rate.
  await sleep(SETTLE_MS);
  const figures: RateFigures[] = [];
  for (const rate of rates) {
    const step = await measureRate({ fleet, publisher, serverPids: [server.pid], rate, durationMs: plan.rateDurationMs, fanOut, targetOf });
    figures.push(step);
    progress(
      `  ${label} ${rate}/s: ${Math.round(step.deliveriesPerSecond)} deliveries/s, server CPU ${step.serverCpuPercent.toFixed(0)} % ` +
        `(waited ${step.serverCpuWaitPercent.toFixed(0)} %), load CPU ${step.loadCpuPercent.toFixed(0)} %, ` +
        `p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms${step.saturated ? " (saturated)" : ""}`,
    );
    if (step.saturated) break;
  }
  return figures;
}

/** Runs scenarios A, B and C on a freshly started server, then stops it. */
export async function runServerScenarios(contender: Contender, fleet: LoadFleet, plan: BenchPlan, progress: Progress): Promise<ServerRun> {
  const server = await contender.start();
  const publisher = new Publisher(contender.kind, server.port, await contender.publisherToken());
  try {
    const idle = await idleScenario(server, contender, fleet, plan, progress);
    const held = (await fleet.report()).open;
    await fleet.close(held - plan.broadcastStreams);
    const broadcastFanOut = (await fleet.report()).open;
    const broadcast = await rateScenario(
      server,
      fleet,
      publisher,
      plan,
      { label: "B", rates: plan.broadcastRates, fanOut: broadcastFanOut, targetOf: () => ({ topic: TOPIC }) },
      progress,
    );
    await fleet.closeAll();
    const opened = await fleet.open(contender.kind, server.port, contender.secret, plan.userStreams, "user");
    if (opened.firstError) progress(`  ${opened.failed} user streams failed to open: ${opened.firstError}`);
    const randomUser = (): Target => ({ user: `u${Math.floor(Math.random() * plan.userStreams)}` });
    const perUser = await rateScenario(server, fleet, publisher, plan, { label: "C", rates: plan.userRates, fanOut: 1, targetOf: randomUser }, progress);
    return { kind: contender.kind, idle, rates: { broadcast, "per-user": perUser } };
  } finally {
    publisher.close();
    await fleet.closeAll();
    await server.stop();
  }
}
