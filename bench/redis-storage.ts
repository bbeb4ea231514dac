/**
 * What the Redis bus costs Redis and the instances, measured through the EventBus interface
 * against one local redis-server, for the working tree and for the storage model before it (the
 * same measurements on the sources of an older commit): Redis CPU per publish and per history
 * read, Redis memory per stored event, and for one 16 KB event to 1,000 users the Redis memory
 * it adds and the bytes an instance watching all of them receives. Quick and bounded: a few
 * thousand publishes per tree.
 *
 *   npm run bench -- --redis [--redis-before <commit>|none]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import type { BusListener, EventBus } from "../src/bus/event-bus.ts";
import type { RetentionOptions } from "../src/bus/retention.ts";
import type { RedisConfig } from "../src/config/config.ts";
import { startTestRedis } from "../test/support/redis-server.ts";

/** The last commit with the storage model where each channel's history held the whole event. */
export const STORAGE_V1_COMMIT = "e6ca88c";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const RETENTION: RetentionOptions = { maxEvents: 1000, maxAgeMs: 600_000, idempotencyWindowMs: 600_000 };
const PUBLISHES = 2000;
const READS = 300;
const READ_CHANNELS = 21;
const FAN_OUT_USERS = 1000;
const FAN_OUT_BYTES = 16 * 1024;
const LATENCY_SAMPLES = 200;
/** The 16 KB event is sent this many times; figures are per event. */
const FAN_OUT_ROUNDS = 3;

type BusConstructor = new (config: RedisConfig, retention: RetentionOptions, log: FastifyBaseLogger) => EventBus;

export interface StorageFigures {
  readonly label: string;
  readonly publishCpuUs: { readonly oneRecipient: number; readonly tenRecipients: number };
  readonly readCpuUs: { readonly upToDateSmall: number; readonly upToDateLarge: number; readonly page50: number };
  readonly memoryPerEventBytes: number;
  readonly fanOut: { readonly memoryAddedBytes: number; readonly bytesToInstance: number; readonly delivered: boolean };
  /** Median time from publish to delivery on another instance, one recipient vs two. */
  readonly liveLatencyMs: { readonly oneRecipient: number; readonly twoRecipients: number };
}

async function info(admin: Redis, section: string, field: string): Promise<number> {
  const match = new RegExp(`^${field}:([\\d.]+)`, "m").exec(await admin.info(section));
  return Number(match?.[1] ?? 0);
}

/** Memory of every key of the bench (MEMORY USAGE over all of each value): client buffers and allocator noise left out. */
async function keyMemory(admin: Redis): Promise<number> {
  let total = 0;
  for await (const keys of admin.scanStream({ match: "bench:*", count: 1000 }) as AsyncIterable<string[]>) {
    for (const key of keys) total += Number((await admin.call("MEMORY", "USAGE", key, "SAMPLES", "0")) ?? 0);
  }
  return total;
}

async function redisCpuUs(admin: Redis): Promise<number> {
  return ((await info(admin, "cpu", "used_cpu_sys")) + (await info(admin, "cpu", "used_cpu_user"))) * 1e6;
}

/** Redis CPU for a step, per repetition. */
async function cpuPer(admin: Redis, repetitions: number, step: () => Promise<unknown>): Promise<number> {
  const before = await redisCpuUs(admin);
  await step();
  return ((await redisCpuUs(admin)) - before) / repetitions;
}

async function inBatches(count: number, run: (index: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += 100) {
    await Promise.all([...Array(Math.min(100, count - start)).keys()].map((offset) => run(start + offset)));
  }
}

const draft = (channels: readonly string[], bytes: number) => ({ type: "bench", dataJson: JSON.stringify({ pad: "x".repeat(bytes) }), channels });
const users = (count: number, tag: string) => [...Array(count).keys()].map((n) => `u:${tag}-${String(n).padStart(4, "0")}`);

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return condition();
}

/** Runs every measurement on the bus of one source tree, each on a fresh redis-server. */
export async function measureStorage(label: string, sourceRoot: string): Promise<StorageFigures> {
  const { RedisBus } = (await import(pathToFileURL(path.join(sourceRoot, "src/bus/redis-bus.ts")).href)) as { RedisBus: BusConstructor };
  const redis = await startTestRedis();
  const admin = new Redis(redis.url);
  const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
  const buses: EventBus[] = [];
  const start = async (listener: BusListener = { deliver: () => undefined, resync: () => undefined }) => {
    const bus = new RedisBus({ url: redis.url, keyPrefix: "bench:", commandTimeoutMs: 10_000 }, RETENTION, log);
    buses.push(bus);
    bus.attach(listener);
    await until(() => bus.health().ready, 10_000);
    return bus;
  };
  try {
    const bus = await start();
    const head = await bus.head();
    const oneRecipient = await cpuPer(admin, PUBLISHES, () => inBatches(PUBLISHES, (n) => bus.publish(draft([`u:one-${n % 100}`], 200))));
    const tenRecipients = await cpuPer(admin, PUBLISHES, () => inBatches(PUBLISHES, (n) => bus.publish(draft(users(10, `ten${n % 50}`), 200))));

    const memoryBefore = await keyMemory(admin);
    await inBatches(PUBLISHES, (n) => bus.publish(draft([`u:mem-${n % 100}`], 200)));
    const memoryPerEventBytes = ((await keyMemory(admin)) - memoryBefore) / PUBLISHES;

    const small = users(READ_CHANNELS, "small");
    const large = users(READ_CHANNELS, "large");
    for (let n = 0; n < 50; n++) await bus.publish(draft(small, 100));
    for (let n = 0; n < 5; n++) await bus.publish(draft(large, 60_000));
    const now = await bus.head();
    const limits = { maxEvents: 500, maxBytes: 1 << 20 };
    const upToDateSmall = await cpuPer(admin, READS, () => inBatches(READS, () => bus.readPage(small, now, limits)));
    const upToDateLarge = await cpuPer(admin, READS, () => inBatches(READS, () => bus.readPage(large, now, limits)));
    const page50 = await cpuPer(admin, READS, () => inBatches(READS, () => bus.readPage(small, head, limits)));

    let delivered = 0;
    let deliveredAt = 0;
    const watcher = await start({
      deliver: () => {
        delivered++;
        deliveredAt = performance.now();
      },
      resync: () => undefined,
    });
    await watcher.watch("u:latency");
    const latency = async (channels: readonly string[]) => {
      const samples: number[] = [];
      for (let n = 0; n < LATENCY_SAMPLES; n++) {
        const seen = delivered;
        const sentAt = performance.now();
        await bus.publish(draft(channels, 200));
        await until(() => delivered > seen, 5000);
        samples.push(deliveredAt - sentAt);
      }
      return samples.sort((a, b) => a - b)[samples.length >> 1]!;
    };
    const liveLatencyMs = { oneRecipient: await latency(["u:latency"]), twoRecipients: await latency(["u:latency", "u:elsewhere"]) };
    const recipients = users(FAN_OUT_USERS, "fan");
    for (const channel of recipients) await watcher.watch(channel);
    await bus.publish(draft(recipients, 10));
    await until(() => delivered > 0, 10_000);
    delivered = 0;
    // The counter a reply reports excludes that reply (the next one counts it): each is taken off.
    const netOut = () => info(admin, "stats", "total_net_output_bytes");
    const oneInfoReply = -(await netOut()) + (await netOut());
    const fanMemoryBefore = await keyMemory(admin);
    let bytesToInstance = 0;
    let arrived = true;
    for (let round = 0; round < FAN_OUT_ROUNDS; round++) {
      delivered = 0;
      const before = await netOut();
      await bus.publish(draft(recipients, FAN_OUT_BYTES));
      arrived &&= await until(() => delivered > 0, 20_000);
      // Pub/sub output leaves Redis over time: wait until it has all gone out.
      let polls = 1;
      let last = await netOut();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const now = await netOut();
        polls++;
        if (now - last <= oneInfoReply) break;
        last = now;
      }
      bytesToInstance += (last - before - (polls - 1) * oneInfoReply) / FAN_OUT_ROUNDS;
    }
    const memoryAddedBytes = ((await keyMemory(admin)) - fanMemoryBefore) / FAN_OUT_ROUNDS;
    return {
      label,
      publishCpuUs: { oneRecipient, tenRecipients },
      readCpuUs: { upToDateSmall, upToDateLarge, page50 },
      memoryPerEventBytes,
      fanOut: { memoryAddedBytes, bytesToInstance, delivered: arrived },
      liveLatencyMs,
    };
  } finally {
    await Promise.all(buses.map((bus) => bus.close()));
    admin.disconnect();
    await redis.stop();
  }
}

/** The sources of an older commit in a temporary folder that resolves packages from this checkout. */
export function checkOutSources(commit: string): { root: string; remove: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), "sse-gateway-storage-"));
  const archive = execFileSync("git", ["archive", commit, "src", "package.json"], { cwd: REPO, maxBuffer: 64 << 20 });
  execFileSync("tar", ["-x", "-C", root], { input: archive });
  symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const us = (value: number) => value.toFixed(1);

export function storageSection(figures: readonly StorageFigures[], environment: readonly string[]): string {
  const column = (pick: (figure: StorageFigures) => string) => figures.map(pick).join(" | ");
  const rows = [
    ["Redis CPU per publish, 1 recipient, 200 B (µs)", column((f) => us(f.publishCpuUs.oneRecipient))],
    ["Redis CPU per publish, 10 recipients, 200 B (µs)", column((f) => us(f.publishCpuUs.tenRecipients))],
    [`Redis CPU per up-to-date read of ${READ_CHANNELS} channels, 100 B events (µs)`, column((f) => us(f.readCpuUs.upToDateSmall))],
    [`Redis CPU per up-to-date read of ${READ_CHANNELS} channels, 60 KB events (µs)`, column((f) => us(f.readCpuUs.upToDateLarge))],
    [`Redis CPU per read of 50 events on ${READ_CHANNELS} channels (µs)`, column((f) => us(f.readCpuUs.page50))],
    ["Redis memory per stored event, 1 recipient, 200 B (bytes)", column((f) => f.memoryPerEventBytes.toFixed(0))],
    [`One 16 KB event to ${FAN_OUT_USERS} users with history: Redis memory added`, column((f) => kb(f.fanOut.memoryAddedBytes))],
    [`Same event: bytes Redis sends an instance watching all ${FAN_OUT_USERS}`, column((f) => `${kb(f.fanOut.bytesToInstance)}${f.fanOut.delivered ? "" : " (not delivered)"}`)],
    ["Publish to delivery on another instance, 1 recipient, median (ms)", column((f) => f.liveLatencyMs.oneRecipient.toFixed(2))],
    ["Publish to delivery on another instance, 2 recipients, median (ms)", column((f) => f.liveLatencyMs.twoRecipients.toFixed(2))],
  ];
  return [
    "## Redis storage (one local redis-server, through the EventBus interface)",
    "",
    ...environment,
    "",
    `Each figure is one run of ${PUBLISHES} publishes, ${READS} reads or ${LATENCY_SAMPLES} timed publishes; Redis CPU`,
    "is INFO cpu (user + system) over the step, so figures carry noise from whatever else runs",
    "(compare the two columns, taken in one run). Memory is MEMORY USAGE summed over the keys. Bytes an",
    "instance receives are Redis's total_net_output_bytes over the step (pub/sub messages and the",
    "fetch of the stored event; the publisher's reply is a few dozen bytes of it).",
    "",
    `| | ${figures.map((figure) => figure.label).join(" | ")} |`,
    `|---|${figures.map(() => "---:").join("|")}|`,
    ...rows.map(([name, values]) => `| ${name} | ${values} |`),
  ].join("\n");
}
