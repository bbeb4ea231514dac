import { monotonicMs, sleep } from "../lib/clock.ts";
import { sampleTree } from "../lib/proc-stats.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import type { EventSource } from "../load/publisher.ts";
import type { Target } from "../servers/protocol.ts";
import { SATURATION_DELIVERED_SHARE, SATURATION_P99_MS } from "./plan.ts";
import type { RateFigures } from "./results.ts";

/** After the last publish, deliveries still arriving are waited for this long at most... */
const MAX_DRAIN_MS = 5_000;
/** ...and the wait ends early once no delivery came for this long. */
const QUIET_MS = 750;
const POLL_MS = 100;

export interface RateStep {
  readonly fleet: LoadFleet;
  readonly publisher: EventSource;
  /** The processes that serve the streams (measured together). */
  readonly serverPids: readonly number[];
  readonly rate: number;
  readonly durationMs: number;
  /** Streams that receive each event: all of them on broadcast, one per user event. */
  readonly fanOut: number;
  readonly targetOf: (sequence: number) => Target;
}

function sampleServers(pids: readonly number[]): { cpuSeconds: number; runQueueWaitSeconds: number } {
  const samples = pids.map(sampleTree);
  return {
    cpuSeconds: samples.reduce((sum, sample) => sum + sample.cpuSeconds, 0),
    runQueueWaitSeconds: samples.reduce((sum, sample) => sum + sample.runQueueWaitSeconds, 0),
  };
}

function loadCpuSeconds(fleetCpuSeconds: number): number {
  const own = process.cpuUsage();
  return fleetCpuSeconds + (own.user + own.system) / 1e6;
}

/** Waits until every expected delivery arrived, or deliveries stopped coming. */
async function drain(fleet: LoadFleet, expected: number): Promise<Awaited<ReturnType<LoadFleet["report"]>>> {
  const deadline = monotonicMs() + MAX_DRAIN_MS;
  let report = await fleet.report();
  let lastCount = report.deliveries;
  let lastChange = monotonicMs();
  while (report.deliveries < expected && monotonicMs() < deadline && monotonicMs() - lastChange < QUIET_MS) {
    await sleep(POLL_MS);
    report = await fleet.report();
    if (report.deliveries !== lastCount) {
      lastCount = report.deliveries;
      lastChange = monotonicMs();
    }
  }
  return report;
}

/** Publishes at one rate and measures deliveries, latency and the CPU of both sides. */
export async function measureRate(step: RateStep): Promise<RateFigures> {
  await step.fleet.reset();
  const before = await step.fleet.report();
  const serverBefore = sampleServers(step.serverPids);
  const loadCpuBefore = loadCpuSeconds(before.cpuSeconds);
  const run = await step.publisher.run(step.rate, step.durationMs, step.targetOf);
  const report = await drain(step.fleet, run.accepted * step.fanOut);
  const endedAt = monotonicMs();
  const serverAfter = sampleServers(step.serverPids);
  const elapsedSeconds = (endedAt - run.startedAtMs) / 1000;
  // Deliveries spread over the publishing window, or longer when the server fell behind.
  const activeSeconds = Math.max(step.durationMs, report.lastReceiptMs - run.startedAtMs) / 1000;
  const offered = step.rate * step.fanOut;
  const deliveredShare = run.accepted === 0 ? 0 : report.deliveries / (run.accepted * step.fanOut);
  const p99Ms = report.latency.quantile(0.99);
  const deliveriesPerSecond = report.deliveries / activeSeconds;
  return {
    rate: step.rate,
    offeredDeliveriesPerSecond: offered,
    deliveriesPerSecond,
    deliveredShare,
    rejectedPublishes: run.rejected,
    serverCpuPercent: ((serverAfter.cpuSeconds - serverBefore.cpuSeconds) / elapsedSeconds) * 100,
    serverCpuWaitPercent: ((serverAfter.runQueueWaitSeconds - serverBefore.runQueueWaitSeconds) / elapsedSeconds) * 100,
    loadCpuPercent: ((loadCpuSeconds(report.cpuSeconds) - loadCpuBefore) / elapsedSeconds) * 100,
    p50Ms: report.latency.quantile(0.5),
    p99Ms,
    saturated:
      run.rejected > 0 ||
      report.deliveries < run.attempted * step.fanOut ||
      deliveriesPerSecond < SATURATION_DELIVERED_SHARE * offered ||
      !(p99Ms <= SATURATION_P99_MS),
  };
}
