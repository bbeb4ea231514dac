import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ALL_EVENTS_CHANNEL,
  IdempotencyConflictError,
  type BusListener,
  type EventBus,
  type PublishResult,
} from "../../src/bus/event-bus.ts";
import type { RetentionOptions } from "../../src/bus/retention.ts";
import { ORIGIN, comparePositions, parseEventId, type EventPosition } from "../../src/events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../../src/events/event.ts";

/**
 * One EventBus specification, run against every bus (memory, Redis). A bus plugs in with a
 * factory that makes a fresh bus and says how to break its backend (fault hooks). The cases
 * come in two parts: the bus contract alone (CONTRACT_CASES), and the streams of a real Hub on
 * top of the bus while faults strike (STREAM_CASES in stream-cases.ts), where no stream may end
 * stuck, lose or repeat an event.
 */

/** Undoes a fault. */
export type Heal = () => Promise<void>;

/**
 * Ways to break a bus's backend, the real way where there is one (for Redis: ACL, CLIENT PAUSE,
 * CLIENT KILL, a restart). A factory lists in `hooks` the ones its bus can suffer; cases that
 * need another are skipped for it.
 */
export interface BusFaults {
  /** Every bus command is refused with an error until healed; connections stay up. */
  failCommands?(): Promise<Heal>;
  /** The backend stops answering for about `ms`: commands time out, then it answers again by itself. */
  stallCommands?(ms: number): Promise<void>;
  /** So many commands are waiting that the bus refuses more (its in-flight cap) until healed. */
  saturate?(): Promise<Heal>;
  /** The connection that carries live events drops; the bus reconnects by itself. */
  dropLive?(): Promise<void>;
  /** The backend loses everything it held and comes back empty. */
  restartEmpty?(): Promise<void>;
}

export type FaultHook = keyof BusFaults;

/** Calls a fault hook the case declared in `needs` (so the factory has it). */
export function fault<K extends FaultHook>(faults: BusFaults, hook: K): NonNullable<BusFaults[K]> {
  const method = faults[hook];
  if (!method) throw new Error(`the case uses the fault hook ${hook} without declaring it in needs`);
  return method.bind(faults) as NonNullable<BusFaults[K]>;
}

export interface BusUnderTest {
  /** Fresh and not yet attached: the suite attaches its listener. */
  readonly bus: EventBus;
  readonly faults: BusFaults;
  /** Resolves once the bus can take and give events (connected, subscribed). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface BusFactory {
  readonly name: string;
  /** The fault hooks every bus it creates offers. */
  readonly hooks: readonly FaultHook[];
  create(retention: RetentionOptions): Promise<BusUnderTest>;
  /** Before and after the whole suite (start and stop a backend shared by the cases). */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  /** Titles of cases this bus does not meet yet: they run as `todo` (reported, not failing). */
  readonly pending?: readonly string[];
}

export const RETENTION: RetentionOptions = { maxEvents: 1000, maxAgeMs: 600_000, idempotencyWindowMs: 60_000 };

/** A listener that records what the bus hands it; attach it first thing. */
export class RecordingListener implements BusListener {
  readonly delivered: GatewayEvent[] = [];
  readonly resyncs: (readonly string[] | undefined)[] = [];

  deliver(event: GatewayEvent): void {
    this.delivered.push(event);
  }

  resync(channels?: readonly string[]): void {
    this.resyncs.push(channels);
  }
}

export function record(bus: EventBus): RecordingListener {
  const listener = new RecordingListener();
  bus.attach(listener);
  return listener;
}

export function draft(channels: readonly string[], data: unknown, extra: Partial<EventDraft> = {}): EventDraft {
  return { type: "t", dataJson: JSON.stringify(data), channels, ...extra };
}

export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const position = (result: PublishResult): EventPosition => parseEventId(result.id)!;

/** A case: its title, and the run given a fresh, attached, ready bus. */
export interface ConformanceCase {
  readonly title: string;
  /** The fault hooks it needs; skipped when the factory lacks one. */
  readonly needs?: readonly FaultHook[];
  readonly retention?: Partial<RetentionOptions>;
  run(subject: BusUnderTest): Promise<void>;
}

/** Registers the suite for one bus; call it at the top level of a test file. */
export function busConformance(factory: BusFactory, cases: readonly ConformanceCase[]): void {
  describe(`EventBus conformance: ${factory.name}`, { timeout: 120_000 }, () => {
    before(() => factory.setUp?.());
    after(() => factory.tearDown?.());
    for (const testCase of cases) {
      const missing = (testCase.needs ?? []).filter((hook) => !factory.hooks.includes(hook));
      const options = {
        skip: missing.length > 0 ? `${factory.name} has no fault hook ${missing.join(", ")}` : false,
        todo: factory.pending?.includes(testCase.title) ? `${factory.name} does not meet this yet` : false,
      };
      it(testCase.title, options, async () => {
        const subject = await factory.create({ ...RETENTION, ...testCase.retention });
        try {
          await subject.ready();
          await testCase.run(subject);
        } finally {
          await subject.close();
        }
      });
    }
  });
}

export const CONTRACT_CASES: readonly ConformanceCase[] = [
  {
    title: "ids grow, and head is the newest id issued",
    async run({ bus }) {
      record(bus);
      const before = await bus.head();
      const first = position(await bus.publish(draft(["u:a"], 1)));
      const second = position(await bus.publish(draft(["u:b"], 2)));
      assert.ok(comparePositions(first, before) > 0);
      assert.ok(comparePositions(second, first) > 0);
      assert.deepEqual(await bus.head(), second);
    },
  },
  {
    title: "a page merges the channels by id, each event once, oldest first",
    async run({ bus }) {
      record(bus);
      const start = await bus.head();
      const ids: string[] = [];
      for (let n = 0; n < 6; n++) ids.push((await bus.publish(draft(n % 2 === 0 ? ["u:a", "t:x"] : ["t:x"], n))).id);
      await bus.publish(draft(["u:other"], "not asked for"));
      const page = await bus.readPage(["u:a", "t:x"], start, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(page.complete, true);
      assert.equal(page.more, false);
      assert.deepEqual(page.events.map((event) => event.id), ids);
      assert.deepEqual(page.events.map((event) => JSON.parse(event.dataJson)), [0, 1, 2, 3, 4, 5]);
      assert.ok(comparePositions(page.head, parseEventId(ids[5]!)!) > 0, "head counts the event on another channel");
    },
  },
  {
    title: "pages are bounded in events and bytes, hold at least one event, and follow on from the last id",
    async run({ bus }) {
      record(bus);
      const start = await bus.head();
      const payloads = ["a".repeat(100), "b".repeat(100), "c".repeat(500), "d".repeat(10), "e".repeat(10), "f".repeat(10)];
      for (const payload of payloads) await bus.publish(draft(["u:a"], payload));
      const read: string[] = [];
      let after = start;
      const sizes: number[] = [];
      for (let pages = 0; pages < 10; pages++) {
        const page = await bus.readPage(["u:a"], after, { maxEvents: 2, maxBytes: 250 });
        assert.equal(page.complete, true);
        assert.ok(page.events.length >= 1 && page.events.length <= 2, `page of ${page.events.length}`);
        const bytes = page.events.reduce((sum, event) => sum + event.dataJson.length, 0);
        assert.ok(page.events.length === 1 || bytes <= 250, `page of ${bytes} bytes`);
        sizes.push(page.events.length);
        read.push(...page.events.map((event) => JSON.parse(event.dataJson) as string));
        after = page.events.at(-1)!;
        if (!page.more) break;
      }
      assert.deepEqual(read, payloads);
      assert.deepEqual(sizes, [2, 1, 2, 1], "the 500-byte event comes alone; the byte bound cuts the first pages");
    },
  },
  {
    title: "a reader behind trimmed history is told the page is not complete",
    retention: { maxEvents: 3 },
    async run({ bus }) {
      record(bus);
      const start = await bus.head();
      const first = position(await bus.publish(draft(["u:a"], 0)));
      for (let n = 1; n <= 5; n++) await bus.publish(draft(["u:a"], n));
      const behind = await bus.readPage(["u:a"], start, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(behind.complete, false);
      assert.deepEqual(behind.events, []);
      const stillBehind = await bus.readPage(["u:a"], first, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(stillBehind.complete, false);
      const head = await bus.head();
      const current = await bus.readPage(["u:a"], head, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(current.complete, true);
      assert.deepEqual(current.events, []);
    },
  },
  {
    title: "a reader at the origin of a fresh data set is told history does not reach back there",
    async run({ bus }) {
      record(bus);
      await bus.publish(draft(["u:a"], 0));
      const page = await bus.readPage(["u:a"], ORIGIN, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(page.complete, false);
    },
  },
  {
    title: "watched channels bring each event live once, in id order; an unwatched channel brings nothing",
    async run({ bus }) {
      const listener = record(bus);
      await bus.watch("u:a");
      await bus.watch("t:x");
      await bus.watch("t:gone");
      bus.unwatch("t:gone");
      const ids: string[] = [];
      for (let n = 0; n < 20; n++) ids.push((await bus.publish(draft(n % 3 === 0 ? ["u:a", "t:x"] : ["t:x"], n))).id);
      await bus.publish(draft(["t:gone"], "unwatched"));
      await bus.publish(draft(["u:unrelated"], "unwatched"));
      const last = (await bus.publish(draft(["u:a"], "last"))).id;
      ids.push(last);
      await until(() => listener.delivered.some((event) => event.id === last), "the last event live");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(listener.delivered.map((event) => event.id), ids);
    },
  },
  {
    title: "the same idempotency key is one event; with another fingerprint it is a conflict",
    async run({ bus }) {
      record(bus);
      const once = draft(["u:a"], { n: 1 }, { idempotencyKey: "pub:order-1", fingerprint: "f1" });
      const start = await bus.head();
      const first = await bus.publish(once);
      const repeat = await bus.publish(once);
      assert.deepEqual(repeat, { id: first.id, duplicate: true });
      await assert.rejects(
        bus.publish({ ...once, dataJson: "2", fingerprint: "f2" }),
        (error: unknown) => error instanceof IdempotencyConflictError && error.existingId === first.id,
      );
      const page = await bus.readPage(["u:a"], start, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.deepEqual(page.events.map((event) => event.id), [first.id]);
    },
  },
  {
    title: "an idempotency key finds its event's id while remembered, and nothing once forgotten",
    retention: { idempotencyWindowMs: 1000 },
    async run({ bus }) {
      record(bus);
      assert.equal(await bus.findByIdempotencyKey("pub:never-used"), undefined);
      const first = await bus.publish(draft(["u:a"], 1, { idempotencyKey: "pub:named", fingerprint: "f" }));
      await bus.publish(draft(["u:a"], 2, { idempotencyKey: "pub:other", fingerprint: "f" }));
      assert.equal(await bus.findByIdempotencyKey("pub:named"), first.id);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      assert.equal(await bus.findByIdempotencyKey("pub:named"), undefined);
    },
  },
  {
    title: "the all-events channel brings every event live and reads the global log",
    async run({ bus }) {
      const listener = record(bus);
      await bus.watch(ALL_EVENTS_CHANNEL);
      const start = await bus.head();
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push((await bus.publish(draft([`u:user-${n}`], n))).id);
      await until(() => listener.delivered.length >= 5, "5 live events");
      assert.deepEqual(listener.delivered.map((event) => event.id), ids);
      const page = await bus.readPage([ALL_EVENTS_CHANNEL], start, { maxEvents: 100, maxBytes: 1 << 20 });
      assert.equal(page.complete, true);
      assert.deepEqual(page.events.map((event) => event.id), ids);
    },
  },
];
