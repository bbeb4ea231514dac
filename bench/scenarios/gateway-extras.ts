import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { sleep } from "../lib/clock.ts";
import { pinned } from "../lib/pinning.ts";
import { sampleTree } from "../lib/proc-stats.ts";
import { BatchPublisher } from "../load/batch-publisher.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import { Publisher, type EventSource } from "../load/publisher.ts";
import { gatewayPublisherToken, startGateway } from "../servers/contenders.ts";
import type { Target } from "../servers/protocol.ts";
import type { BenchPlan } from "./plan.ts";
import { measureRate } from "./rate-step.ts";
import type { RateFigures } from "./results.ts";

/**
 * Scenario E, the gateway alone: the per-user path with the defaults a user gets (LOG_LEVEL=info)
 * and with POST /publish/batch, next to the tuned single-event run of scenario C; and the CPU of
 * token verification on its own, out of the cost of a stream open.
 */
const TOKEN_COST_SCRIPT = fileURLToPath(new URL("../token-verify-cost.ts", import.meta.url));
const SETTLE_MS = 500;
const WARM_UP = { rate: 10, durationMs: 1_000 };

export interface GatewayVariantRun {
  readonly name: string;
  /** What differs from a user's defaults. */
  readonly settings: string;
  readonly openCpuMsPer1k: number;
  readonly bytesPerStream: number;
  readonly steps: readonly RateFigures[];
}

export interface GatewayExtras {
  readonly tokenVerifyCpuMsPer1k: number;
  readonly variants: readonly GatewayVariantRun[];
}

/** CPU ms per 1000 stream-token verifications, in a child pinned to the server CPU. */
export function tokenVerificationCost(secret: string): number {
  const [command, args] = pinned("server", process.execPath, [TOKEN_COST_SCRIPT, secret, "3000"]);
  const run = spawnSync(command, args, { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`token-verify-cost failed: ${run.stderr}`);
  return (JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { cpuMsPer1k: number }).cpuMsPer1k;
}

async function runVariant(
  name: string,
  settings: string,
  env: Readonly<Record<string, string>>,
  sourceOf: (port: number, token: string) => EventSource,
  fleet: LoadFleet,
  plan: BenchPlan,
  progress: (line: string) => void,
): Promise<GatewayVariantRun> {
  const secret = randomBytes(32).toString("hex");
  const server = await startGateway(secret, env);
  const source = sourceOf(server.port, await gatewayPublisherToken(secret));
  try {
    await sleep(SETTLE_MS);
    const baseline = sampleTree(server.pid);
    const opened = await fleet.open("gateway", server.port, secret, plan.userStreams, "user");
    if (opened.firstError) progress(`  ${opened.failed} user streams failed to open: ${opened.firstError}`);
    await sleep(SETTLE_MS);
    const afterOpen = sampleTree(server.pid);
    const held = Math.max(1, (await fleet.report()).open);
    const randomUser = (): Target => ({ user: `u${Math.floor(Math.random() * plan.userStreams)}` });
    await source.run(WARM_UP.rate, WARM_UP.durationMs, randomUser);
    await sleep(SETTLE_MS);
    const steps: RateFigures[] = [];
    for (const rate of plan.userRates) {
      const step = await measureRate({ fleet, publisher: source, serverPids: [server.pid], rate, durationMs: plan.rateDurationMs, fanOut: 1, targetOf: randomUser });
      steps.push(step);
      progress(`  E ${name} ${rate}/s: server CPU ${step.serverCpuPercent.toFixed(0)} %, ${cpuPerDeliveryUs(step).toFixed(0)} µs/delivery, p99 ${step.p99Ms.toFixed(1)} ms${step.saturated ? " (saturated)" : ""}`);
      if (step.saturated) break;
    }
    return {
      name,
      settings,
      openCpuMsPer1k: ((afterOpen.cpuSeconds - baseline.cpuSeconds) * 1e6) / held,
      bytesPerStream: (afterOpen.pssBytes - baseline.pssBytes) / held,
      steps,
    };
  } finally {
    source.close();
    await fleet.closeAll();
    await server.stop();
  }
}

/** Server CPU per delivered event, in µs. */
export function cpuPerDeliveryUs(step: RateFigures): number {
  return step.deliveriesPerSecond > 0 ? ((step.serverCpuPercent / 100) * 1e6) / step.deliveriesPerSecond : Number.NaN;
}

export async function runGatewayExtras(plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<GatewayExtras> {
  const tokenVerifyCpuMsPer1k = tokenVerificationCost(randomBytes(32).toString("hex"));
  progress(`  E token verification: ${tokenVerifyCpuMsPer1k.toFixed(0)} ms CPU per 1000`);
  const single = (port: number, token: string) => new Publisher("gateway", port, token);
  const batch = (port: number, token: string) => new BatchPublisher(port, token);
  const variants = [
    await runVariant("defaults, POST /publish", "LOG_LEVEL unset (info)", { LOG_LEVEL: "info" }, single, fleet, plan, progress),
    await runVariant("tuned, POST /publish/batch", "LOG_LEVEL=warn; events due together batched, up to 100", {}, batch, fleet, plan, progress),
  ];
  return { tokenVerifyCpuMsPer1k, variants };
}
