import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { CONTRACT_CASES, busConformance, until, type BusFaults, type Heal } from "./bus-conformance.ts";
import { STREAM_CASES } from "./stream-cases.ts";

/** Short, so that a stalled Redis turns into failed commands quickly. */
const COMMAND_TIMEOUT_MS = 400;
/** The Redis bus refuses commands past this many in flight (MAX_IN_FLIGHT in redis-bus.ts). */
const IN_FLIGHT_CAP = 1000;

let redis: TestRedis | undefined;
let admin: Redis | undefined;

const skip = killableRedisSkipReason();

/**
 * Faults of a real redis-server, made from an admin connection: ACL refuses the scripts,
 * CLIENT PAUSE WRITE stalls them while PING and pub/sub go on, CLIENT KILL drops the pub/sub
 * connection, and a kill and start without persistence loses the data set.
 */
class RedisFaults implements BusFaults {
  readonly #bus: RedisBus;

  constructor(bus: RedisBus) {
    this.#bus = bus;
  }

  async failCommands(): Promise<Heal> {
    await admin!.call("ACL", "SETUSER", "default", "-@scripting", "-subscribe");
    return async () => void (await admin!.call("ACL", "SETUSER", "default", "+@all"));
  }

  async stallCommands(ms: number): Promise<void> {
    await admin!.call("CLIENT", "PAUSE", String(ms), "WRITE");
  }

  async saturate(): Promise<Heal> {
    await admin!.call("CLIENT", "PAUSE", "60000", "WRITE");
    // Calls time out after the command timeout and free their slot: keep the slots taken.
    let saturated = true;
    const fill = async () => {
      while (saturated) {
        for (let i = 0; i < IN_FLIGHT_CAP; i++) this.#bus.head().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const filling = fill();
    return async () => {
      saturated = false;
      await filling;
      await admin!.call("CLIENT", "UNPAUSE");
    };
  }

  async dropLive(): Promise<void> {
    await admin!.call("CLIENT", "KILL", "TYPE", "pubsub");
  }

  async restartEmpty(): Promise<void> {
    admin!.disconnect();
    await redis!.kill();
    await redis!.start();
    admin = new Redis(redis!.url);
  }
}

busConformance({
  name: "Redis bus",
  hooks: skip ? [] : ["failCommands", "stallCommands", "saturate", "dropLive", "restartEmpty"],
  pending: [
    // The Redis bus answers a failed read with a resync of every stream (its #scheduleResync):
    // each stream retries its own reads now, so that resync has to go.
    "a failed history read is retried by its stream alone, not by every stream",
  ],
  async setUp() {
    if (skip) return;
    redis = await startTestRedis();
    admin = new Redis(redis.url);
  },
  async tearDown() {
    admin?.disconnect();
    await redis?.stop();
  },
  async create(retention) {
    if (!redis) throw new Error(`no Redis: ${skip}`);
    const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
    const config = { url: redis.url, keyPrefix: `conformance-${randomUUID().slice(0, 8)}:`, commandTimeoutMs: COMMAND_TIMEOUT_MS };
    const bus = new RedisBus(config, retention, log);
    return {
      bus,
      faults: new RedisFaults(bus),
      ready: () => until(() => bus.health().ready, "the Redis bus ready", 10_000),
      close: () => bus.close(),
    };
  },
}, [...CONTRACT_CASES, ...STREAM_CASES]);
