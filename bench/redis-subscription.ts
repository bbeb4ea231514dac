/**
 * How should instances subscribe to live events in Redis? Compares, in one run against one
 * local redis-server, per-channel SUBSCRIBE (each instance subscribes to the channels its streams
 * watch) with one broadcast channel (every instance gets every event and filters). Three
 * subscriber connections stand for three instances; each watches the private channels of its own
 * third of the users, as behind a load balancer. Prints Redis CPU, per-instance traffic and time.
 *
 *   node bench/redis-subscription.ts [events=20000] [users=3000]
 */
import { Redis } from "ioredis";
import { startTestRedis } from "../test/support/redis-server.ts";

const EVENTS = Number(process.argv[2] ?? 20_000);
const USERS = Number(process.argv[3] ?? 3000);
const INSTANCES = 3;
const BATCH = 200;
const payload = "x".repeat(200);

interface Result {
  readonly mode: string;
  readonly wallMs: number;
  readonly redisCpuMs: number;
  readonly messagesPerInstance: number;
  readonly bytesPerInstance: number;
  readonly subscribeMs: number;
}

/** CPU time Redis has used (user + system), from INFO cpu. */
async function redisCpuMs(client: Redis): Promise<number> {
  const info = await client.info("cpu");
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (seconds("used_cpu_sys") + seconds("used_cpu_user")) * 1000;
}

async function run(url: string, mode: "per-channel" | "broadcast"): Promise<Result> {
  const publisher = new Redis(url);
  const subscribers = Array.from({ length: INSTANCES }, () => new Redis(url));
  const owned = subscribers.map((_, instance) => new Set([...Array(USERS).keys()].filter((user) => user % INSTANCES === instance).map((user) => `live:u:${user}`)));
  const received = subscribers.map(() => ({ messages: 0, bytes: 0, wanted: 0 }));
  let wanted = 0;
  const done = new Promise<void>((resolve) => {
    subscribers.forEach((subscriber, instance) => {
      subscriber.on("message", (channel: string, message: string) => {
        const counts = received[instance]!;
        counts.messages++;
        counts.bytes += message.length;
        const target = mode === "broadcast" ? message.slice(0, message.indexOf("\n")) : channel;
        if (owned[instance]!.has(target) && ++wanted === EVENTS) resolve();
      });
    });
  });
  const subscribeStart = performance.now();
  await Promise.all(
    subscribers.map((subscriber, instance) => (mode === "broadcast" ? subscriber.subscribe("live:all") : subscriber.subscribe(...owned[instance]!))),
  );
  const subscribeMs = performance.now() - subscribeStart;
  const cpuBefore = await redisCpuMs(publisher);
  const start = performance.now();
  for (let sent = 0; sent < EVENTS; sent += BATCH) {
    const pipeline = publisher.pipeline();
    for (let i = sent; i < Math.min(EVENTS, sent + BATCH); i++) {
      const channel = `live:u:${(i * 7919) % USERS}`;
      pipeline.publish(mode === "broadcast" ? "live:all" : channel, `${channel}\n${i}\n${payload}`);
    }
    await pipeline.exec();
  }
  await done;
  const wallMs = performance.now() - start;
  const cpuAfter = await redisCpuMs(publisher);
  for (const client of [publisher, ...subscribers]) client.disconnect();
  return {
    mode,
    wallMs,
    redisCpuMs: cpuAfter - cpuBefore,
    messagesPerInstance: received.reduce((sum, counts) => sum + counts.messages, 0) / INSTANCES,
    bytesPerInstance: received.reduce((sum, counts) => sum + counts.bytes, 0) / INSTANCES,
    subscribeMs,
  };
}

const redis = await startTestRedis();
try {
  await run(redis.url, "per-channel"); // warm-up
  const perChannel = await run(redis.url, "per-channel");
  const broadcast = await run(redis.url, "broadcast");
  console.log(`${EVENTS} events to ${USERS} users, ${INSTANCES} instances each watching ${USERS / INSTANCES} user channels`);
  for (const result of [perChannel, broadcast]) {
    console.log(
      `${result.mode.padEnd(12)} wall ${result.wallMs.toFixed(0)} ms (${((EVENTS / result.wallMs) * 1000).toFixed(0)} events/s), ` +
        `Redis CPU ${result.redisCpuMs.toFixed(0)} ms, per instance ${result.messagesPerInstance.toFixed(0)} messages / ` +
        `${(result.bytesPerInstance / 1e6).toFixed(1)} MB, initial SUBSCRIBE ${result.subscribeMs.toFixed(1)} ms`,
    );
  }
  console.log(
    `broadcast / per-channel: messages per instance x${(broadcast.messagesPerInstance / perChannel.messagesPerInstance).toFixed(2)}, ` +
      `Redis CPU x${(broadcast.redisCpuMs / perChannel.redisCpuMs).toFixed(2)}, wall x${(broadcast.wallMs / perChannel.wallMs).toFixed(2)}`,
  );
} finally {
  await redis.stop();
}
