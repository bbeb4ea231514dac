import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import type { FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import { ALL_EVENTS_CHANNEL, type EventBus, type HistoryPage } from "../../src/bus/event-bus.ts";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import type { RetentionOptions } from "../../src/bus/retention.ts";
import { parseEventId, type EventPosition } from "../../src/events/event-id.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventually } from "../support/wait.ts";

/**
 * The Redis bus's history against the memory bus's, as a model: for any sequence of publishes
 * (random recipients among a few channels, random sizes, a small HISTORY_MAX_EVENTS so that
 * trimming happens) and any read (random channels, position and limits), both answer the same
 * events, the same `complete` and the same `more`. Ids differ between the buses; events are
 * compared by the order they were published in.
 */
const CHANNELS = ["u:a", "u:b", "t:x", "t:y"];
const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;

let redis: TestRedis;
let prefixes = 0;
before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis.stop();
});

const publishArbitrary = fc.record({
  channels: fc.subarray(CHANNELS, { minLength: 1 }),
  bytes: fc.integer({ min: 1, max: 400 }),
});
const readArbitrary = fc.record({
  channels: fc.subarray([...CHANNELS, ALL_EVENTS_CHANNEL], { minLength: 1 }),
  /** -1: the head before the first publish; else after the n-th event published. */
  after: fc.integer({ min: -1, max: 29 }),
  maxEvents: fc.integer({ min: 1, max: 12 }),
  maxBytes: fc.integer({ min: 1, max: 2000 }),
});

/** A page in terms of publish order, so that two buses' pages compare. */
function described(page: HistoryPage, order: Map<string, number>) {
  return { events: page.events.map((event) => order.get(event.id)), complete: page.complete, more: page.more };
}

async function replay(bus: EventBus, publishes: readonly { channels: string[]; bytes: number }[]) {
  const start = await bus.head();
  const positions: EventPosition[] = [];
  const order = new Map<string, number>();
  for (const [index, { channels, bytes }] of publishes.entries()) {
    const { id } = await bus.publish({ type: "t", dataJson: JSON.stringify("x".repeat(bytes)), channels });
    positions.push(parseEventId(id)!);
    order.set(id, index);
  }
  return { start, positions, order };
}

test("the Redis bus's pages equal the memory bus's for any publishes and reads", { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(publishArbitrary, { minLength: 1, maxLength: 30 }),
      fc.array(readArbitrary, { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 2, max: 8 }),
      async (publishes, reads, maxEvents) => {
        const retention: RetentionOptions = { maxEvents, maxAgeMs: 600_000, idempotencyWindowMs: 600_000 };
        const memory = new MemoryBus(retention);
        const redisBus = new RedisBus({ url: redis.url, keyPrefix: `model${++prefixes}:`, commandTimeoutMs: 5000 }, retention, log);
        try {
          for (const bus of [memory, redisBus]) bus.attach({ deliver: () => undefined, resync: () => undefined });
          await eventually(() => redisBus.health().ready, 5000, "the Redis bus");
          const model = await replay(memory, publishes);
          const real = await replay(redisBus, publishes);
          for (const read of reads) {
            const index = Math.min(read.after, publishes.length - 1);
            const at = (run: typeof model) => (index < 0 ? run.start : run.positions[index]!);
            const limits = { maxEvents: read.maxEvents, maxBytes: read.maxBytes };
            const expected = described(await memory.readPage(read.channels, at(model), limits), model.order);
            const actual = described(await redisBus.readPage(read.channels, at(real), limits), real.order);
            assert.deepEqual(actual, expected, JSON.stringify({ read, index }));
          }
        } finally {
          await memory.close();
          await redisBus.close();
        }
      },
    ),
    { numRuns: 40 },
  );
});
