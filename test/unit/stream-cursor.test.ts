import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BusUnavailableError, type HistoryPage, type PageLimits } from "../../src/bus/event-bus.ts";
import { comparePositions, formatEventId, type EventPosition } from "../../src/events/event-id.ts";
import type { GatewayEvent } from "../../src/events/event.ts";
import { eventFrame, retryFrame } from "../../src/hub/frames.ts";
import { StreamCursor, cursorContext, type CursorBus, type CursorTimers, type StreamStart } from "../../src/hub/stream-cursor.ts";
import { TestSink } from "../support/test-sink.ts";

const CHANNELS = ["u:a", "t:x"];
const ALL_CHANNELS = ["u:a", "t:x", "t:y"];
const MAX_BUFFER_BYTES = 4096;

interface PendingCall {
  readonly kind: "watch" | "head" | "readPage";
  settle(ok: boolean): void;
}

/**
 * A bus whose every call waits until the test answers it (or fails it), with history in memory
 * and live delivery the test can cut and restore: the cursor's whole world, step by step.
 */
class ScriptedBus implements CursorBus {
  readonly history: GatewayEvent[] = [];
  readonly pending: PendingCall[] = [];
  readonly watched = new Set<string>();
  liveUp = true;
  /** Where the first history read started: the stream's start, once placed. */
  firstReadAfter: EventPosition | undefined;
  #nextMs = 1;

  /** The local clock of the instance: the millisecond of the newest id (ids are issued from synchronised clocks). */
  get clockMs(): number {
    return this.#nextMs;
  }

  publish(channels: readonly string[], bytes: number, cursor: StreamCursor): void {
    const ms = this.#nextMs++;
    const event: GatewayEvent = { ms, seq: 0, id: formatEventId({ ms, seq: 0 }), type: "t", dataJson: JSON.stringify("x".repeat(bytes)), channels };
    this.history.push(event);
    if (this.liveUp && channels.some((channel) => this.watched.has(channel))) cursor.offer(event, () => eventFrame(event));
  }

  watch(channel: string): Promise<void> {
    return this.#call("watch", () => void this.watched.add(channel));
  }

  head(): Promise<EventPosition> {
    // Read when the answer arrives: a real backend runs the command at some moment between the
    // call and its answer, and the latest moment is the hardest for the cursor.
    return this.#call("head", () => {
      const last = this.history.at(-1);
      return last ? { ms: last.ms, seq: last.seq } : { ms: 0, seq: 0 };
    });
  }

  readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage> {
    this.firstReadAfter ??= after;
    // The read runs when it is called; its answer arrives when the test says, and events
    // published in between come only live, as with a real backend.
    const snapshot = this.history.slice();
    return this.#call("readPage", () => {
      const matching = snapshot.filter((event) => comparePositions(event, after) > 0 && event.channels.some((channel) => channels.includes(channel)));
      const events: GatewayEvent[] = [];
      let bytes = 0;
      for (const event of matching) {
        if (events.length >= limits.maxEvents || (events.length > 0 && bytes + event.dataJson.length > limits.maxBytes)) break;
        events.push(event);
        bytes += event.dataJson.length;
      }
      const last = snapshot.at(-1);
      return { events, complete: true, more: events.length < matching.length, head: last ?? { ms: 0, seq: 0 } };
    });
  }

  #call<T>(kind: PendingCall["kind"], answer: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ kind, settle: (ok) => (ok ? resolve(answer()) : reject(new BusUnavailableError(`injected: ${kind} failed`))) });
    });
  }
}

class ScriptedTimers implements CursorTimers {
  readonly due = new Map<number, () => void>();
  #next = 1;

  set(callback: () => void): unknown {
    const handle = this.#next++;
    this.due.set(handle, callback);
    return handle;
  }

  clear(handle: unknown): void {
    this.due.delete(handle as number);
  }

  fire(pick: number): void {
    const handles = [...this.due.keys()];
    if (handles.length === 0) return;
    const handle = handles[pick % handles.length]!;
    const callback = this.due.get(handle)!;
    this.due.delete(handle);
    callback();
  }
}

type Step =
  | { readonly kind: "publish"; readonly channels: readonly string[]; readonly bytes: number }
  | { readonly kind: "answer"; readonly pick: number; readonly ok: boolean }
  | { readonly kind: "timer"; readonly pick: number }
  | { readonly kind: "take"; readonly bytes: number }
  | { readonly kind: "reading"; readonly on: boolean }
  | { readonly kind: "live-drop" }
  | { readonly kind: "live-restore" }
  | { readonly kind: "resync" }
  | { readonly kind: "client-leaves" };

const steps: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("publish" as const), channels: fc.subarray(ALL_CHANNELS, { minLength: 1 }), bytes: fc.integer({ min: 0, max: 900 }) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("answer" as const), pick: fc.nat(), ok: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("timer" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("take" as const), bytes: fc.integer({ min: 1, max: 8192 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reading" as const), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: "live-drop" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "live-restore" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "resync" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "client-leaves" as const }) },
);

const starts: fc.Arbitrary<{ readonly kind: StreamStart["kind"]; readonly afterEvents: number }> = fc.record({
  kind: fc.constantFrom<StreamStart["kind"]>("head", "after", "unusable-id"),
  afterEvents: fc.integer({ min: 0, max: 5 }),
});

interface World {
  readonly bus: ScriptedBus;
  readonly timers: ScriptedTimers;
  readonly sink: TestSink;
  readonly cursor: StreamCursor;
  readonly start: EventPosition | undefined;
  /** The newest id when the stream opened: everything after it is the stream's. */
  /** The newest event when the first byte reached the client: the response head goes out with it. */
  readonly newestAtFirstByte: EventPosition | undefined;
  closedBy: string | undefined;
}

function makeWorld(start: { kind: StreamStart["kind"]; afterEvents: number }, history: number, reading: boolean): World {
  const bus = new ScriptedBus();
  const timers = new ScriptedTimers();
  const sink = new TestSink({ reading });
  const world: { -readonly [K in keyof World]: World[K] } = {
    bus,
    timers,
    sink,
    cursor: undefined as never,
    start: undefined,
    newestAtFirstByte: undefined,
    closedBy: undefined,
  };
  const write = sink.write.bind(sink);
  sink.write = (chunk) => {
    world.newestAtFirstByte ??= bus.history.at(-1) ?? { ms: 0, seq: 0 };
    write(chunk);
  };
  const placeholder = { offer: () => false } as unknown as StreamCursor;
  for (let i = 0; i < history; i++) bus.publish([ALL_CHANNELS[i % 3]!], 100, placeholder);
  const position = { ms: Math.min(start.afterEvents, history), seq: 0 };
  const streamStart: StreamStart = start.kind === "after" ? { kind: "after", position } : { kind: start.kind };
  world.start = start.kind === "after" ? position : undefined;
  const context = cursorContext({
    bus,
    maxBufferBytes: MAX_BUFFER_BYTES,
    stallMs: 30_000,
    backoff: { baseMs: 100, maxMs: 2000 },
    timers,
    random: () => 0.5,
    onBusFailure: () => undefined,
    now: () => bus.clockMs,
    onClosed: (_cursor, why) => (world.closedBy = why),
    currentTick: () => 0,
  });
  world.cursor = new StreamCursor(context, { userId: "a", sink, channels: CHANNELS, start: streamStart });
  sink.onClose(() => world.cursor.clientGone());
  world.cursor.start(retryFrame(1000));
  return world;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function apply(world: World, step: Step): Promise<void> {
  const { bus, timers, sink, cursor } = world;
  switch (step.kind) {
    case "publish":
      bus.publish(step.channels, step.bytes, cursor);
      break;
    case "answer": {
      if (bus.pending.length === 0) break;
      const [call] = bus.pending.splice(step.pick % bus.pending.length, 1);
      call!.settle(step.ok);
      break;
    }
    case "timer":
      timers.fire(step.pick);
      break;
    case "take":
      sink.take(step.bytes);
      break;
    case "reading":
      sink.reading = step.on;
      if (step.on) sink.take();
      break;
    case "live-drop":
      bus.liveUp = false;
      break;
    case "live-restore":
      if (!bus.liveUp) {
        bus.liveUp = true;
        cursor.resync();
      }
      break;
    case "resync":
      cursor.resync();
      break;
    case "client-leaves":
      sink.clientLeaves();
      break;
  }
  await settle();
}

/** Answers every call, lets the client read, restores live delivery and fires timers until nothing is left. */
async function heal(world: World): Promise<void> {
  world.sink.reading = true;
  world.sink.take();
  if (!world.bus.liveUp) await apply(world, { kind: "live-restore" });
  for (let round = 0; round < 500 && (world.bus.pending.length > 0 || world.timers.due.size > 0); round++) {
    while (world.bus.pending.length > 0) await apply(world, { kind: "answer", pick: 0, ok: true });
    if (world.timers.due.size > 0) await apply(world, { kind: "timer", pick: 0 });
  }
}

function assertNeverStuck(world: World, when: string): void {
  const { cursor, bus, timers } = world;
  if (cursor.state === "closed") {
    assert.equal(timers.due.size, 0, `a closed cursor leaves no timer (${when})`);
    return;
  }
  if (cursor.state === "live") return;
  assert.ok(bus.pending.length > 0 || timers.due.size > 0, `cursor ${cursor.state} has no call, no timer, no live subscription (${when})`);
}

function assertBounded(world: World): void {
  const { cursor, sink } = world;
  assert.ok(cursor.held.events <= 1000 && cursor.held.bytes <= 2 * MAX_BUFFER_BYTES, `held ${JSON.stringify(cursor.held)}`);
  if (cursor.state !== "closed") assert.ok(sink.bufferedBytes <= MAX_BUFFER_BYTES, `queued ${sink.bufferedBytes}`);
}

/** Every event of the stream's channels after its start, in id order. */
function expectedAfter(world: World, start: EventPosition): string[] {
  return world.bus.history
    .filter((event) => comparePositions(event, start) > 0 && event.channels.some((channel) => CHANNELS.includes(channel)))
    .map((event) => event.id);
}

describe("stream cursor", () => {
  it("writes every event after its start once, in id order, never gets stuck and stays bounded, whatever fails when", async () => {
    await fc.assert(
      fc.asyncProperty(starts, fc.integer({ min: 0, max: 30 }), fc.boolean(), fc.array(steps, { maxLength: 120 }), async (start, history, reading, script) => {
        const world = makeWorld(start, history, reading);
        for (const [index, step] of script.entries()) {
          await apply(world, step);
          assertNeverStuck(world, `after step ${index} ${step.kind}`);
          assertBounded(world);
        }
        await heal(world);
        // Events after healing arrive live.
        world.bus.publish(["u:a"], 10, world.cursor);
        world.bus.publish(["t:x", "u:a"], 10, world.cursor);
        await heal(world);
        assertNeverStuck(world, "after healing");

        const written = world.sink.dataEvents.map((frame) => frame.id!);
        const refetches = world.sink.frames.filter((frame) => frame.event === "gateway.refetch");
        assert.equal(new Set(written).size, written.length, "no event twice");
        assert.deepEqual([...written].sort(byId), written, "in id order");
        const begin = world.start ?? world.bus.firstReadAfter;
        if (begin === undefined) {
          assert.deepEqual(written, [], "nothing before the start is known");
          return;
        }
        const closed = world.cursor.state === "closed";
        if (start.kind !== "after") {
          // What a client can know of "after it opened" is the response head: every event
          // published once it could see the 200 reaches it.
          if (world.newestAtFirstByte) {
            assert.ok(comparePositions(begin, world.newestAtFirstByte) <= 0, "a client that saw the response head gets every event published after it");
          }
        }
        if (start.kind === "unusable-id") {
          // A client that left before the head answered never got as far as the refetch.
          assert.equal(refetches.length, closed ? Math.min(refetches.length, 1) : 1);
          if (refetches.length > 0) assert.equal(world.sink.frames[0], refetches[0], "the refetch comes first");
          if (!closed) assert.equal(refetches[0]!.id, formatEventId(begin), "at the head");
        } else {
          assert.equal(refetches.length, 0, "no refetch when history covers everything");
        }
        if (start.kind === "head" && world.sink.frames.length > 0) {
          assert.deepEqual(world.sink.frames[0], { id: formatEventId(begin) }, "told where it starts before any event");
        }
        const expected = expectedAfter(world, begin);
        if (closed) {
          assert.deepEqual(written, expected.slice(0, written.length), "a closed stream got a gap-free start of its events");
        } else {
          assert.equal(world.cursor.state, "live");
          assert.deepEqual(written, expected, "every event after the start, once, in order");
        }
      }),
      {
        numRuns: 1500,
        examples: [
          // A retry of a failed open while the first attempt's calls are still out.
          [{ kind: "head", afterEvents: 0 }, 0, false, [{ kind: "answer", pick: 0, ok: false }, { kind: "timer", pick: 0 }, { kind: "answer", pick: 1953318464, ok: true }, { kind: "publish", channels: ["t:x", "t:y"], bytes: 0 }]],
          // More live events during a read than are held: they must come from history.
          [{ kind: "head", afterEvents: 0 }, 0, true, [...answers(3), ...Array.from({ length: 12 }, () => ({ kind: "publish" as const, channels: ["u:a"], bytes: 900 })), ...answers(1)]],
        ],
      },
    );
  });

  it("waits for a client behind on its catch-up, and drops it after 30 s without progress", async () => {
    // 30 events of 900 bytes: far more than a page (a quarter of the 4096-byte bound).
    const world = makeWorld({ kind: "after", afterEvents: 0 }, 0, false);
    for (let n = 0; n < 30; n++) world.bus.publish(["u:a"], 900, world.cursor);
    await answerUntilBehind(world);
    assert.equal(world.cursor.state, "catching-up");
    assert.equal(world.bus.pending.length, 0, "no next page while the client is behind");
    assert.equal(world.timers.due.size, 1, "the stall timer runs");
    world.sink.take(100);
    await apply(world, { kind: "timer", pick: 0 });
    assert.equal(world.cursor.state, "catching-up", "some progress: waited for again");
    await apply(world, { kind: "timer", pick: 0 });
    assert.equal(world.cursor.state, "closed");
    assert.equal(world.closedBy, "slow-client");
  });

  it("reads the next page as soon as the client has taken the last one", async () => {
    const world = makeWorld({ kind: "after", afterEvents: 0 }, 0, false);
    for (let n = 0; n < 30; n++) world.bus.publish(["u:a"], 900, world.cursor);
    await answerUntilBehind(world);
    const written = world.sink.dataEvents.length;
    world.sink.take();
    await settle();
    assert.equal(world.bus.pending.length, 1, "the next page is asked for");
    assert.equal(world.timers.due.size, 0, "and the stall timer is gone");
    await heal(world);
    assert.equal(world.cursor.state, "live");
    assert.ok(written < 30 && world.sink.dataEvents.length === 30);
  });

  it("holds no event object once idle: its position is an id", async () => {
    const world = makeWorld({ kind: "head", afterEvents: 0 }, 0, true);
    await heal(world);
    world.bus.publish(["u:a"], 60_000, world.cursor);
    assert.equal(world.sink.dataEvents.length, 1);
    const position = world.cursor.position as unknown as Record<string, unknown>;
    assert.deepEqual(Object.keys(position).sort(), ["ms", "seq"]);
    assert.deepEqual(world.cursor.held, { events: 0, bytes: 0 });
  });
});

/** Answers the watches and pages until the client (which reads nothing) is a page behind. */
async function answerUntilBehind(world: World): Promise<void> {
  for (let i = 0; i < 10 && world.timers.due.size === 0; i++) await apply(world, { kind: "answer", pick: 0, ok: true });
  assert.ok(world.sink.bufferedBytes > MAX_BUFFER_BYTES / 4, `behind by ${world.sink.bufferedBytes} bytes`);
}

function answers(count: number): Step[] {
  return Array.from({ length: count }, () => ({ kind: "answer" as const, pick: 0, ok: true }));
}

function byId(a: string, b: string): number {
  const [am, as] = a.split("-").map(Number) as [number, number];
  const [bm, bs] = b.split("-").map(Number) as [number, number];
  return am === bm ? as - bs : am - bm;
}
