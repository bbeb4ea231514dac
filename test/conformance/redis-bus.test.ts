import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import { keepRedisBusy } from "../support/redis-busy.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { BusRejectedError, BusUnavailableError } from "../../src/bus/event-bus.ts";
import { CONTRACT_CASES, busConformance, draft, record, until, type BusFaults, type ConformanceCase, type Heal } from "./bus-conformance.ts";
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
  readonly prefix: string;

  constructor(bus: RedisBus, prefix: string) {
    this.#bus = bus;
    this.prefix = prefix;
  }

  /** Every key of this bus with its serialised value: equal snapshots mean nothing was written. */
  async snapshot(): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    for (const key of (await admin!.keys(`${this.prefix}*`)).sort()) {
      values.set(key, ((await admin!.dumpBuffer(key)) ?? Buffer.alloc(0)).toString("base64"));
    }
    return values;
  }

  /** Commands refused by the server's ACL one by one (the others go on) until healed. */
  async refuse(...commands: string[]): Promise<Heal> {
    await admin!.call("ACL", "SETUSER", "default", ...commands.map((command) => `-${command}`));
    return async () => void (await admin!.call("ACL", "SETUSER", "default", "+@all"));
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

const redisFaults = (faults: BusFaults) => faults as RedisFaults;
const PAGE = { maxEvents: 100, maxBytes: 1 << 20 };

/** Faults only Redis has, and how the bus must class them: transient (retry) or permanent. */
const REDIS_CASES: readonly ConformanceCase[] = [
  {
    title: "Redis: a key of the wrong type refuses the publish for good, and nothing of it is written",
    async run({ bus, faults }) {
      const { prefix } = redisFaults(faults);
      await bus.publish(draft(["u:a"], 0));
      await admin!.set(`${prefix}ids:u:broken`, "not a stream");
      const before = await redisFaults(faults).snapshot();
      await assert.rejects(bus.publish(draft(["u:a", "u:broken"], 1, { idempotencyKey: "k", fingerprint: "f" })), BusRejectedError);
      assert.deepEqual(await redisFaults(faults).snapshot(), before);
    },
  },
  {
    title: "Redis: refusals by ACL, a script running too long and a full memory are transient",
    async run({ bus }) {
      const expectUnavailable = async (what: string, arrange: () => Promise<unknown>, undo: () => Promise<unknown>) => {
        await arrange();
        try {
          await assert.rejects(bus.publish(draft(["u:a"], what)), BusUnavailableError, what);
        } finally {
          await undo();
        }
      };
      await expectUnavailable(
        "ACL",
        () => admin!.call("ACL", "SETUSER", "default", "-evalsha", "-eval"),
        () => admin!.call("ACL", "SETUSER", "default", "+@all"),
      );
      await expectUnavailable(
        "OOM",
        () => admin!.config("SET", "maxmemory", "1"),
        () => admin!.config("SET", "maxmemory", "0"),
      );
      let busy: { finished(): Promise<void> } | undefined;
      await expectUnavailable(
        "BUSY",
        async () => (busy = await keepRedisBusy(redis!.url, 1000)),
        () => busy!.finished(),
      );
      assert.equal((await bus.publish(draft(["u:a"], "after"))).duplicate, false);
    },
  },
  {
    title: "Redis: a live event whose stored copy cannot be fetched is left to a catch-up, never delivered out of order",
    async run({ bus, faults }) {
      const listener = record(bus);
      await bus.watch("u:a");
      await bus.watch("u:b");
      const heal = await redisFaults(faults).refuse("mget");
      const resyncs = listener.resyncs.length;
      try {
        // Two recipients: the live message carries the id only, and the instance must fetch the event.
        await bus.publish(draft(["u:a", "u:b"], "needs a fetch"));
        await until(() => listener.resyncs.length > resyncs, "a resync after the failed fetch");
        assert.equal(listener.delivered.length, 0);
      } finally {
        await heal();
      }
      const later = (await bus.publish(draft(["u:a", "u:b"], "later"))).id;
      await until(() => listener.delivered.some((event) => event.id === later), "live delivery again");
      assert.deepEqual(listener.delivered.map((event) => event.id), [later]);
      const page = await bus.readPage(["u:a"], await bus.head(), PAGE);
      assert.equal(page.complete, true);
    },
  },
];

busConformance({
  name: "Redis bus",
  hooks: skip ? [] : ["failCommands", "stallCommands", "saturate", "dropLive", "restartEmpty"],
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
      faults: new RedisFaults(bus, config.keyPrefix),
      ready: () => until(() => bus.health().ready, "the Redis bus ready", 10_000),
      close: () => bus.close(),
    };
  },
}, [...CONTRACT_CASES, ...STREAM_CASES, ...REDIS_CASES]);
