import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sleep } from "../lib/clock.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import { Publisher } from "../load/publisher.ts";
import { gatewayPublisherToken, startGateway } from "../servers/contenders.ts";
import { freePort, startServerProcess, type RunningServer } from "../servers/server-process.ts";
import type { BenchPlan } from "./plan.ts";
import { measureRate } from "./rate-step.ts";
import type { RateFigures } from "./results.ts";

/**
 * Scenario D: two gateway instances sharing a Redis bus (a redis-server of its own on a free
 * port, no persistence). Events are published to the first instance; half the streams are on
 * the second, so their events cross Redis. The SQS leg (an SQS emulator feeding the ingest)
 * joins once the gateway has an SQS ingest (src/ingest/sqs*).
 */
const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const TOPIC = "bench";

function hasModule(dir: string, prefix: string): boolean {
  const path = `${SRC}${dir}`;
  return existsSync(path) && readdirSync(path).some((name) => name.startsWith(prefix));
}

export interface ClusterOutcome {
  /** Markdown for docs/benchmarks.md. */
  readonly markdown: string;
  /** The figures of each rate, when the scenario ran. */
  readonly steps?: readonly RateFigures[];
}

function startRedis(port: number): Promise<RunningServer> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"];
  return startServerProcess("redis-server", args, {}, port, "tcp");
}

function table(steps: readonly RateFigures[]): string {
  const lines = [
    "| rate (ev/s) | deliveries/s | CPU, both gateways + Redis (%) | waiting for a CPU (%) | load-side CPU (%) | p50 (ms) | p99 (ms) |",
    "|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const step of steps) {
    const cells = [step.rate, step.deliveriesPerSecond.toFixed(0), step.serverCpuPercent.toFixed(0), step.serverCpuWaitPercent.toFixed(0), step.loadCpuPercent.toFixed(0), step.p50Ms.toFixed(1), step.p99Ms.toFixed(1)];
    lines.push(`| ${cells.join(" | ")}${step.saturated ? " (saturated)" : ""} |`);
  }
  return lines.join("\n");
}

async function measureCluster(plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<RateFigures[]> {
  const secret = randomBytes(32).toString("hex");
  const redisPort = await freePort();
  const servers: RunningServer[] = [await startRedis(redisPort)];
  let publisher: Publisher | undefined;
  try {
    for (let instance = 0; instance < 2; instance++) servers.push(await startGateway(secret, { REDIS_URL: `redis://127.0.0.1:${redisPort}` }));
    const gateways = servers.slice(1);
    for (const gateway of gateways) {
      const opened = await fleet.open("gateway", gateway.port, secret, plan.clusterStreams / gateways.length, "topic", TOPIC);
      if (opened.firstError) progress(`  D: ${opened.failed} streams failed to open: ${opened.firstError}`);
    }
    const fanOut = (await fleet.report()).open;
    publisher = new Publisher("gateway", gateways[0]!.port, await gatewayPublisherToken(secret));
    const everyone = () => ({ topic: TOPIC });
    await publisher.run(5, 1_000, everyone);
    await sleep(500);
    const figures: RateFigures[] = [];
    for (const rate of plan.clusterRates) {
      const serverPids = servers.map((server) => server.pid);
      const step = await measureRate({ fleet, publisher, serverPids, rate, durationMs: plan.rateDurationMs, fanOut, targetOf: everyone });
      figures.push(step);
      progress(`  D ${rate}/s: ${Math.round(step.deliveriesPerSecond)} deliveries/s, p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms${step.saturated ? " (saturated)" : ""}`);
      if (step.saturated) break;
    }
    return figures;
  } finally {
    publisher?.close();
    await fleet.closeAll();
    for (const server of servers.reverse()) await server.stop();
  }
}

export async function runClusterScenario(plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<ClusterOutcome> {
  if (!hasModule("bus", "redis")) return { markdown: "Not run: the gateway does not have a Redis bus (src/bus/redis*) yet." };
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status !== 0) {
    return { markdown: "Not run: `redis-server` was not found (Debian: `apt-get install redis-server`)." };
  }
  progress("[D] two gateways through Redis");
  const steps = await measureCluster(plan, fleet, progress);
  const sqs = hasModule("ingest", "sqs")
    ? "The SQS leg (emulator to ingest) is not measured by this harness yet."
    : "The SQS leg (an SQS emulator feeding the ingest) is not measured: the gateway has no SQS ingest (src/ingest/sqs*) yet.";
  return {
    steps,
    markdown: `${plan.clusterStreams.toLocaleString("en-US")} streams on one topic, half on each of two gateways sharing one redis-server
(REDIS_URL; no persistence); events are published over HTTP to the first gateway, so the second
gateway's streams get them through Redis. CPU is that of both gateways and Redis together. ${sqs}

${table(steps)}`,
  };
}
