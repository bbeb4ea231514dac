import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { BusUnavailableError } from "../../src/bus/event-bus.ts";
import { RedisSubscriptionRegistry } from "../../src/bus/redis/redis-subscription-registry.ts";
import { keyOf, matchesFilter, registeredSubscription, type MatchType, type RegisteredSubscription, type SubscriptionFilter } from "../../src/mercure/subscription-registry.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventually } from "../support/wait.ts";

/**
 * The Redis subscription registry on a spawned redis-server: several registries (instances)
 * list the same subscriptions as a model; an instance killed without a word drops out within its
 * lease; a Redis outage answers fast, and what changed meanwhile is written once Redis is back.
 */

const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
let redis: TestRedis;
let admin: Redis;

before(async () => {
  redis = await startTestRedis();
  admin = new Redis(redis.url);
  admin.on("error", () => undefined); // while Redis is killed on purpose
});
after(async () => {
  admin.disconnect();
  await redis.stop();
});

interface Announced {
  readonly ended: RegisteredSubscription[];
  readonly resumed: RegisteredSubscription[];
}

function registry(prefix: string, leaseMs = 5000, failures: { count: number } = { count: 0 }, announced: Announced = { ended: [], resumed: [] }): RedisSubscriptionRegistry {
  const made = new RedisSubscriptionRegistry({
    config: { url: redis.url, keyPrefix: prefix, commandTimeoutMs: 1000 },
    leaseMs,
    log,
    observer: { writeFailed: () => failures.count++ },
  });
  made.watch({ ended: async (subscriptions) => void announced.ended.push(...subscriptions), resumed: async (subscriptions) => void announced.resumed.push(...subscriptions) });
  return made;
}

/** A registry just made may not be connected yet (503 then): the first listing waits for it. */
function listOnceConnected(from: RedisSubscriptionRegistry, filter: SubscriptionFilter) {
  return eventually(() => from.list(filter, 1000).catch((error: unknown) => (error instanceof BusUnavailableError ? undefined : Promise.reject(error))), 3000, "a connected registry");
}

const sorted = (subscriptions: readonly RegisteredSubscription[]) => [...subscriptions].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));

/** Glob characters, quotes and commas (HSCAN MATCH and the JSON keys), non-ASCII. */
const matchType = fc.constantFrom<MatchType | undefined>(undefined, "Exact", "URLPattern");
/** A payload as a token's JSON claim carries it (fc.jsonValue makes -0, which JSON writes as 0). */
const asTokenClaim = fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);
const topic = fc.constantFrom("https://example.com/books/1", "https://example.com/books/{id}", "*", 'a"b', "a,b", "x[1]?*\\", "日本/é", "a");

describe("the Redis subscription registry", { timeout: 90_000 }, () => {
  test("instances list together what a model of every instance's adds and removes holds", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ instance: fc.nat(2), add: fc.boolean(), topic, matchType, subscriber: fc.constantFrom("urn:uuid:1", "urn:uuid:2"), payload: fc.option(asTokenClaim, { nil: undefined }) }), { maxLength: 30 }),
        fc.array(
          fc.oneof(
            fc.constant<SubscriptionFilter>({}),
            fc.record({ topic, matchType }, { requiredKeys: ["topic"] }),
            fc.record({ topic, matchType, subscriber: fc.constantFrom("urn:uuid:1-0", "urn:uuid:2-1", "urn:uuid:1-2") }, { requiredKeys: ["topic", "subscriber"] }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        async (operations, filters) => {
          const prefix = `subs-${randomUUID().slice(0, 8)}:`;
          const instances = [registry(prefix), registry(prefix), registry(prefix)];
          try {
            const model = new Map<string, RegisteredSubscription>();
            for (const { instance, add, topic, matchType, subscriber, payload } of operations) {
              // A subscriber belongs to one instance (a stream), as in the gateway.
              const id = `${subscriber}-${instance}`;
              const subscription = registeredSubscription(topic, id, payload, matchType);
              if (add) model.set(keyOf(subscription), subscription);
              else model.delete(keyOf(subscription));
              await (add ? instances[instance]!.add([subscription]) : instances[instance]!.remove([subscription]));
            }
            for (const [index, filter] of filters.entries()) {
              const expected = [...model.values()].filter((subscription) => matchesFilter(subscription, filter));
              const listing = await listOnceConnected(instances[index % 3]!, filter);
              assert.equal(listing.truncated, false);
              assert.deepEqual(sorted(listing.subscriptions), sorted(expected), JSON.stringify(filter));
            }
          } finally {
            await Promise.all(instances.map((instance) => instance.close()));
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  test("a listing stops at the limit and says it was cut", async () => {
    const prefix = `subs-${randomUUID().slice(0, 8)}:`;
    const [a, b] = [registry(prefix), registry(prefix)];
    try {
      const many = (instance: string) => [...Array(1500).keys()].map((n) => ({ topic: `https://example.com/${n % 3}`, subscriber: `urn:uuid:${instance}-${n}` }));
      await Promise.all([a.add(many("a")), b.add(many("b"))]);
      const all = await a.list({}, 1000);
      assert.equal(all.subscriptions.length, 1000);
      assert.equal(all.truncated, true);
      const one = await b.list({ topic: "https://example.com/1" }, 2000);
      assert.equal(one.subscriptions.length, 1000);
      assert.equal(one.truncated, false);
      assert.ok(one.subscriptions.every((subscription) => subscription.topic === "https://example.com/1"));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("an instance killed (SIGKILL) drops out within its lease, and exactly one live instance announces the end of its subscriptions; a clean close leaves at once", async () => {
    const prefix = `subs-${randomUUID().slice(0, 8)}:`;
    const leaseMs = 1500;
    const announced: Announced[] = [{ ended: [], resumed: [] }, { ended: [], resumed: [] }];
    const observer = registry(prefix, leaseMs, undefined, announced[0]);
    const other = registry(prefix, leaseMs, undefined, announced[1]);
    const leaving = registry(prefix, leaseMs);
    const child = spawnRegistry(prefix, leaseMs);
    try {
      await leaving.add([{ topic: "t", subscriber: "urn:uuid:leaving" }]);
      await child.ready;
      const subscribers = async () => (await observer.list({}, 1000)).subscriptions.map((subscription) => subscription.subscriber).sort();
      assert.deepEqual(await subscribers(), ["urn:uuid:child-0", "urn:uuid:child-1", "urn:uuid:child-2", "urn:uuid:leaving"]);
      await leaving.close();
      assert.deepEqual(await subscribers(), ["urn:uuid:child-0", "urn:uuid:child-1", "urn:uuid:child-2"], "a clean close leaves at once");
      child.process.kill("SIGKILL");
      const killedAt = Date.now();
      await eventually(async () => (await subscribers()).length === 0, leaseMs + 2000, "the killed instance to drop out");
      const elapsed = Date.now() - killedAt;
      assert.ok(elapsed <= leaseMs + 700, `dropped out after ${elapsed} ms, lease ${leaseMs} ms`);
      // One of the two live instances claims it: its end is announced once, and nothing of it stays.
      await eventually(() => announced[0]!.ended.length + announced[1]!.ended.length >= 3, leaseMs, "the end of its subscriptions announced");
      await new Promise((resolve) => setTimeout(resolve, leaseMs / 2)); // room for a second announcement to show up
      assert.deepEqual([...announced[0]!.ended, ...announced[1]!.ended].map((subscription) => subscription.subscriber).sort(), ["urn:uuid:child-0", "urn:uuid:child-1", "urn:uuid:child-2"]);
      assert.deepEqual(await admin.keys(`${prefix}mercure:subscriptions:*`), []);
      assert.deepEqual(await admin.keys(`${prefix}mercure:ended:*`), []);
      assert.equal(await admin.zcard(`${prefix}mercure:instances`), 2, "the registry forgot it");
      assert.deepEqual([...announced[0]!.resumed, ...announced[1]!.resumed], [], "no live instance was taken for dead");
    } finally {
      child.process.kill("SIGKILL");
      await Promise.all([observer.close(), other.close(), leaving.close()]);
    }
  });

  test("with Redis down a listing fails at once as unavailable and a change does not wait long; once Redis is back (empty) every subscription is there again", { skip: killableRedisSkipReason() }, async () => {
    const prefix = `subs-${randomUUID().slice(0, 8)}:`;
    const failures = { count: 0 };
    const announced: Announced = { ended: [], resumed: [] };
    const a = registry(prefix, 3000, failures, announced);
    const b = registry(prefix, 3000);
    try {
      await a.add([{ topic: "before", subscriber: "urn:uuid:a1" }]);
      await b.add([{ topic: "before", subscriber: "urn:uuid:b1" }]);
      await redis.kill();
      const started = Date.now();
      await assert.rejects(a.list({}, 10), BusUnavailableError);
      assert.ok(Date.now() - started < 1500, "no hang");
      const changing = Date.now();
      await a.add([{ topic: "during", subscriber: "urn:uuid:a2" }]);
      await a.remove([{ topic: "before", subscriber: "urn:uuid:a1" }]);
      assert.ok(Date.now() - changing < 5000, "add and remove wait a bounded time");
      await redis.start();
      await eventually(
        async () => {
          const listing = await b.list({}, 10).catch(() => undefined);
          return listing !== undefined && JSON.stringify(sorted(listing.subscriptions)) === JSON.stringify(sorted([{ topic: "during", subscriber: "urn:uuid:a2" }, { topic: "before", subscriber: "urn:uuid:b1" }]));
        },
        10_000,
        "both instances' subscriptions written again",
      );
      // Redis lost them: a listing taken meanwhile did not show them, so they are announced again.
      await eventually(() => announced.resumed.length === 1, 3000, "a's subscription announced again");
      assert.deepEqual(announced.resumed, [{ topic: "during", subscriber: "urn:uuid:a2" }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    assert.ok(failures.count > 0, "the failed writes were counted");
  });
});

const REGISTRY_MODULE = fileURLToPath(new URL("../../src/bus/redis/redis-subscription-registry.ts", import.meta.url));

/** A registry in a process of its own, holding three subscriptions: a real instance to kill. */
function spawnRegistry(prefix: string, leaseMs: number): { process: ReturnType<typeof spawn>; ready: Promise<void> } {
  const code = `
    import { RedisSubscriptionRegistry } from ${JSON.stringify(REGISTRY_MODULE)};
    const log = { info() {}, warn() {}, error() {}, debug() {} };
    const registry = new RedisSubscriptionRegistry({ config: { url: ${JSON.stringify(redis.url)}, keyPrefix: ${JSON.stringify(prefix)}, commandTimeoutMs: 1000 }, leaseMs: ${leaseMs}, log, observer: { writeFailed() {} } });
    await registry.add([0, 1, 2].map((n) => ({ topic: "t", subscriber: "urn:uuid:child-" + n })));
    console.log("ready");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  const ready = (async () => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await eventually(() => output.includes("ready"), 10_000, "the child registry");
  })();
  void once(child, "exit");
  return { process: child, ready };
}
