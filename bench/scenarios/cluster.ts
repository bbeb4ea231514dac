import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { monotonicMs, sleep } from "../lib/clock.ts";
import { cpuSeconds } from "../lib/proc-stats.ts";
import type { LoadFleet } from "../load/load-fleet.ts";
import { Redis } from "ioredis";
import { ManyUsersPublisher } from "../load/many-users-publisher.ts";
import { Publisher, type EventSource } from "../load/publisher.ts";
import { SqsPublisher } from "../load/sqs-publisher.ts";
import { gatewayPublisherToken, startGateway } from "../servers/contenders.ts";
import { startRedis } from "../servers/redis.ts";
import type { Target } from "../servers/protocol.ts";
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
  readonly steps: readonly ClusterStep[];
}

/** One rate of one path, with Redis's own share of the CPU. */
export interface ClusterStep extends RateFigures {
  /** redis-server's CPU, % of one core (also counted in serverCpuPercent). */
  readonly redisCpuPercent: number;
}

export interface ClusterOutcome {
  /** Markdown for docs/benchmarks.md. */
  readonly markdown: string;
  /** The figures of each path, when the scenario ran. */
  readonly paths?: readonly ClusterPath[];
}

function table(paths: readonly ClusterPath[]): string {
  const lines = [
    "| path | rate (ev/s) | deliveries/s | CPU, both gateways + Redis (%) | of it Redis (%) | gateways' CPU per delivery (µs) | Redis CPU per event (µs) | waiting for a CPU (%) | load-side CPU (%) | p50 (ms) | p99 (ms) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { name, steps } of paths) {
    for (const step of steps) {
      const perUs = (percent: number, perSecond: number) => (perSecond > 0 ? ((percent / 100) * 1e6) / perSecond : Number.NaN).toFixed(0);
      const cells = [
        step.deliveriesPerSecond.toFixed(0),
        step.serverCpuPercent.toFixed(0),
        step.redisCpuPercent.toFixed(0),
        perUs(step.serverCpuPercent - step.redisCpuPercent, step.deliveriesPerSecond),
        perUs(step.redisCpuPercent, step.rate),
        step.serverCpuWaitPercent.toFixed(0),
        step.loadCpuPercent.toFixed(0),
        step.p50Ms.toFixed(1),
        step.p99Ms.toFixed(1),
      ];
      lines.push(`| ${name} | ${step.rate}${step.saturated ? " (saturated)" : ""} | ${cells.join(" | ")} |`);
    }
  }
  return lines.join("\n");
}

interface Cluster {
  readonly servers: readonly RunningServer[];
  readonly fanOut: number;
}

/** What one path sends: to the one topic at the broadcast rates, or to random users at the per-user rates. */
interface PathLoad {
  readonly rates: readonly number[];
  readonly targetOf: () => Target;
}

async function measurePath(name: string, source: EventSource, cluster: Cluster, plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void, load?: PathLoad): Promise<ClusterPath> {
  const { rates, targetOf } = load ?? { rates: plan.clusterRates, targetOf: (): Target => ({ topic: TOPIC }) };
  await source.run(5, 1_000, targetOf);
  await sleep(1_000);
  const steps: ClusterStep[] = [];
  const serverPids = cluster.servers.map((server) => server.pid);
  // The first server is Redis.
  const redisPid = serverPids[0]!;
  for (const rate of rates) {
    const redisBefore = cpuSeconds(redisPid);
    const startedAt = monotonicMs();
    const measured = await measureRate({ fleet, publisher: source, serverPids, rate, durationMs: plan.rateDurationMs, fanOut: cluster.fanOut, targetOf });
    const step = { ...measured, redisCpuPercent: ((cpuSeconds(redisPid) - redisBefore) / ((monotonicMs() - startedAt) / 1000)) * 100 };
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
    if (sqs) paths.push(await measurePerUserOverSqs(sqs, servers, secret, plan, fleet, progress));
    paths.push(await measureOneToMany(servers, secret, plan, fleet, progress));
    return paths;
  } finally {
    http?.close();
    await fleet.closeAll();
    for (const server of servers.reverse()) await server.stop();
    await sqs?.close();
  }
}

/**
 * The production path, per user: plan.userStreams users, half on each gateway, EventBridge events
 * to random users through SQS, each consumed by one gateway and reaching the other's user through Redis.
 */
async function measurePerUserOverSqs(sqs: SqsPublisher, servers: readonly RunningServer[], secret: string, plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<ClusterPath> {
  await fleet.closeAll();
  const gateways = servers.slice(1);
  for (const gateway of gateways) {
    const opened = await fleet.open("gateway", gateway.port, secret, plan.userStreams / gateways.length, "user");
    if (opened.firstError) progress(`  D: ${opened.failed} user streams failed to open: ${opened.firstError}`);
  }
  const randomUser = (): Target => ({ user: `u${Math.floor(Math.random() * plan.userStreams)}` });
  const name = `SQS, per user (${plan.userStreams.toLocaleString("en-US")} users), to random users`;
  return measurePath(name, sqs, { servers, fanOut: 1 }, plan, fleet, progress, { rates: plan.userRates, targetOf: randomUser });
}

async function redisInfo(port: number): Promise<{ usedMemory: number; outputBytes: number }> {
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true });
  try {
    await client.connect();
    const text = await client.info();
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
    return { usedMemory: field("used_memory"), outputBytes: field("total_net_output_bytes") };
  } finally {
    client.disconnect();
  }
}

/**
 * One event to many: each event names plan.manyUsers users, half of whose streams are on each
 * gateway, published over HTTP to the first. Per rate: Redis memory, and the bytes Redis sends
 * per instance per event (its whole output over the events, shared by the two gateways).
 */
async function measureOneToMany(servers: readonly RunningServer[], secret: string, plan: BenchPlan, fleet: LoadFleet, progress: (line: string) => void): Promise<ClusterPath> {
  await fleet.closeAll();
  const [redis, ...gateways] = servers;
  for (const gateway of gateways) {
    const opened = await fleet.open("gateway", gateway.port, secret, plan.manyUsers / gateways.length, "user");
    if (opened.firstError) progress(`  D: ${opened.failed} user streams failed to open: ${opened.firstError}`);
  }
  const source = new ManyUsersPublisher(gateways[0]!.port, await gatewayPublisherToken(secret), plan.manyUsers);
  const name = `one event to ${plan.manyUsers.toLocaleString("en-US")} users (HTTP to gateway 1)`;
  try {
    const before = await redisInfo(redis!.port);
    const path = await measurePath(name, source, { servers, fanOut: plan.manyUsers }, plan, fleet, progress, { rates: plan.manyUsersRates, targetOf: () => ({ user: "u0" }) });
    const after = await redisInfo(redis!.port);
    const events = path.steps.reduce((sum, step) => sum + (step.rate * plan.rateDurationMs) / 1000, 0);
    oneToManyNotes.push(
      `${name}: Redis used_memory ${((after.usedMemory - before.usedMemory) / 1024 / 1024).toFixed(1)} MiB more after ${events.toLocaleString("en-US")} events ` +
        `(${((after.usedMemory - before.usedMemory) / Math.max(1, events)).toFixed(0)} bytes per event held in history); ` +
        `Redis sent ${((after.outputBytes - before.outputBytes) / Math.max(1, events) / gateways.length / 1024).toFixed(1)} KiB per instance per event.`,
    );
    return path;
  } finally {
    source.close();
  }
}

/** Figures of the one-to-many path that are not per rate, for the section's text. */
const oneToManyNotes: string[] = [];

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
get them through Redis. The last path is the production path per user: ${plan.userStreams.toLocaleString("en-US")} users' streams,
half on each gateway, and EventBridge events to random users through SQS. CPU is that of both gateways and Redis together. ${sqsNote}

${table(paths)}

${oneToManyNotes.map((note) => `- ${note}`).join("\n")}`,
  };
}
