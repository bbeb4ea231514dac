import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sleep } from "../lib/clock.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import { Publisher, type EventSource } from "../load/publisher.ts";
import { SqsPublisher } from "../load/sqs-publisher.ts";
import { gatewayPublisherToken, startGateway } from "../servers/contenders.ts";
import { startRedis } from "../servers/redis.ts";
import { freePort, type RunningServer } from "../servers/server-process.ts";
import type { BenchPlan } from "./plan.ts";
import { measureRate } from "./rate-step.ts";
import type { RateFigures } from "./results.ts";

/**
 * Scenario D: two gateway instances sharing a Redis bus (a redis-server of the harness's own on
 * a free port, no persistence), half the streams on each. Events come two ways: over HTTP to the
 * first gateway, and (once the gateway has an SQS ingest) as EventBridge events on an SQS
 * emulator's queue that both gateways consume. Either way half the streams get them via Redis.
 */
const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const TOPIC = "bench";

function hasModule(dir: string, prefix: string): boolean {
  const path = `${SRC}${dir}`;
  return existsSync(path) && readdirSync(path).some((name) => name.startsWith(prefix));
}

/** One way events reach the gateways, and its figures at each rate. */
export interface ClusterPath {
  readonly name: string;
  readonly steps: readonly RateFigures[];
}

export interface ClusterOutcome {
  /** Markdown for docs/benchmarks.md. */
  readonly markdown: string;
  /** The figures of each path, when the scenario ran. */
  readonly paths?: readonly ClusterPath[];
}

function table(paths: readonly ClusterPath[]): string {
  const lines = [
    "| path | rate (ev/s) | deliveries/s | CPU, both gateways + Redis (%) | waiting for a CPU (%) | load-side CPU (%) | p50 (ms) | p99 (ms) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { name, steps } of paths) {
    for (const step of steps) {
      const cells = [step.deliveriesPerSecond.toFixed(0), step.serverCpuPercent.toFixed(0), step.serverCpuWaitPercent.toFixed(0), step.loadCpuPercent.toFixed(0), step.p50Ms.toFixed(1), step.p99Ms.toFixed(1)];
      lines.push(`| ${name} | ${step.rate}${step.saturated ? " (saturated)" : ""} | ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

interface Cluster {
  readonly servers: readonly RunningServer[];
  readonly fanOut: number;
}

async function measurePath(name: string, source: EventSource, cluster: Cluster, plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<ClusterPath> {
  const everyone = () => ({ topic: TOPIC });
  await source.run(5, 1_000, everyone);
  await sleep(1_000);
  const steps: RateFigures[] = [];
  const serverPids = cluster.servers.map((server) => server.pid);
  for (const rate of plan.clusterRates) {
    const step = await measureRate({ fleet, publisher: source, serverPids, rate, durationMs: plan.rateDurationMs, fanOut: cluster.fanOut, targetOf: everyone });
    steps.push(step);
    progress(`  D ${name} ${rate}/s: ${Math.round(step.deliveriesPerSecond)} deliveries/s, p50 ${step.p50Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms${step.saturated ? " (saturated)" : ""}`);
    if (step.saturated) break;
  }
  return { name, steps };
}

async function measureCluster(plan: BenchPlan, fleet: LoadFleet, withSqs: boolean, progress: (line: string) => void): Promise<ClusterPath[]> {
  const secret = randomBytes(32).toString("hex");
  const redisPort = await freePort();
  const servers: RunningServer[] = [await startRedis(redisPort)];
  const sqs = withSqs ? await SqsPublisher.start() : undefined;
  let http: Publisher | undefined;
  try {
    const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, ...sqs?.gatewayEnv() };
    for (let instance = 0; instance < 2; instance++) servers.push(await startGateway(secret, env));
    const gateways = servers.slice(1);
    for (const gateway of gateways) {
      const opened = await fleet.open("gateway", gateway.port, secret, plan.clusterStreams / gateways.length, "topic", TOPIC);
      if (opened.firstError) progress(`  D: ${opened.failed} streams failed to open: ${opened.firstError}`);
    }
    const cluster = { servers, fanOut: (await fleet.report()).open };
    http = new Publisher("gateway", gateways[0]!.port, await gatewayPublisherToken(secret));
    const paths = [await measurePath("HTTP publish to gateway 1", http, cluster, plan, fleet, progress)];
    if (sqs) paths.push(await measurePath("SQS (EventBridge event) to either gateway", sqs, cluster, plan, fleet, progress));
    return paths;
  } finally {
    http?.close();
    await fleet.closeAll();
    for (const server of servers.reverse()) await server.stop();
    await sqs?.close();
  }
}

export async function runClusterScenario(plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<ClusterOutcome> {
  if (!hasModule("bus", "redis")) return { markdown: "Not run: the gateway does not have a Redis bus (src/bus/redis*) yet." };
  if (spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status !== 0) {
    return { markdown: "Not run: `redis-server` was not found (Debian: `apt-get install redis-server`)." };
  }
  const withSqs = hasModule("ingest", "sqs");
  progress("[D] two gateways through Redis");
  const paths = await measureCluster(plan, fleet, withSqs, progress);
  const sqsNote = withSqs
    ? "The SQS emulator (fauxqs) runs in the harness's process, so its CPU counts on the load side."
    : "The SQS path is not measured: the gateway has no SQS ingest (src/ingest/sqs*) yet.";
  return {
    paths,
    markdown: `${plan.clusterStreams.toLocaleString("en-US")} streams on one topic, half on each of two gateways sharing one redis-server
(REDIS_URL; no persistence). Events are published over HTTP to the first gateway, or sent as
EventBridge events to an SQS queue both gateways consume; either way the other gateway's streams
get them through Redis. CPU is that of both gateways and Redis together. ${sqsNote}

${table(paths)}`,
  };
}
