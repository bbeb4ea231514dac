import assert from "node:assert/strict";
import { BusUnavailableError, type EventBus, type PublishResult } from "../../src/bus/event-bus.ts";
import { Hub } from "../../src/hub/hub.ts";
import type { StreamStart } from "../../src/hub/stream-cursor.ts";
import { TestSink } from "../support/test-sink.ts";
import { draft, fault, position, until, type BusUnderTest, type ConformanceCase } from "./bus-conformance.ts";

/** How soon after the bus answers again every stream must have caught up (the promise). */
const CAUGHT_UP_WITHIN_MS = 5000;
const CHANNEL = "u:conformance";

interface Stream {
  readonly name: string;
  readonly sink: TestSink;
}

/** A real Hub on the bus under test, with streams whose clients read everything. */
class Streams {
  readonly hub: Hub;
  readonly #bus: EventBus;
  readonly all: Stream[] = [];

  constructor(bus: EventBus) {
    this.#bus = bus;
    this.hub = new Hub(bus, {
      heartbeatIntervalMs: 60_000,
      maxBufferBytes: 1 << 20,
      maxConnections: 100_000,
      maxConnectionsPerUser: 100_000,
      maxOpensPerUserPerMinute: 100_000,
      retryMs: 1000,
      retryJitterMs: 0,
    });
  }

  open(name: string, start: StreamStart, channel = CHANNEL): Stream {
    const stream = { name, sink: new TestSink() };
    this.hub.open({ userId: name, channels: [channel], sink: stream.sink, start });
    this.all.push(stream);
    return stream;
  }

  /** Publishes as a well-behaved publisher does: a refused publish is sent again until accepted. */
  async publish(n: number, channel = CHANNEL): Promise<PublishResult> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        return await this.#bus.publish(draft([channel], { n }, { idempotencyKey: `conformance-${channel}-${n}`, fingerprint: `${n}` }));
      } catch (error) {
        if (!(error instanceof BusUnavailableError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Waits until the stream got exactly these events, once each and in order (and nothing else but refetches). */
  async expect(stream: Stream, ns: readonly number[], what: string): Promise<void> {
    const got = () => stream.sink.dataEvents.map((frame) => (JSON.parse(frame.data!) as { n: number }).n);
    await until(() => got().length >= ns.length, `${stream.name} to get ${JSON.stringify(ns)} ${what} (has ${JSON.stringify(got())})`, CAUGHT_UP_WITHIN_MS);
    await new Promise((resolve) => setTimeout(resolve, 100)); // room for a repeat to show up
    assert.deepEqual(got(), ns, `${stream.name}: every event once, in order, ${what}`);
    assert.equal(stream.sink.closed, false, `${stream.name} stays open`);
  }

  close(): void {
    this.hub.close();
  }
}

const after = (result: PublishResult): StreamStart => ({ kind: "after", position: position(result) });

/**
 * Streams in every start (live before the fault, resumed, from the head, with an unusable id)
 * opened while the fault holds; after it heals, each gets what it is owed within 5 s.
 */
function opensDuringFault(title: string, hook: "failCommands" | "saturate" | "stallCommands"): ConformanceCase {
  return {
    title,
    needs: [hook],
    async run({ bus, faults }: BusUnderTest) {
      const streams = new Streams(bus);
      try {
        const live = streams.open("live", { kind: "head" });
        await until(() => streams.hub.size === 1 && live.sink.frames.length === 0, "the live stream");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const first = await streams.publish(0);
        await streams.publish(1);
        await streams.expect(live, [0, 1], "before the fault");
        const heal = hook === "stallCommands" ? await stallFor(faults, 1500) : await fault(faults, hook)();
        const resumed = streams.open("resumed", after(first));
        const fromHead = streams.open("from-head", { kind: "head" });
        const unusable = streams.open("unusable-id", { kind: "unusable-id" });
        await new Promise((resolve) => setTimeout(resolve, 600));
        assert.ok(streams.hub.stats.busFailures > 0, "the failed calls are counted");
        await heal();
        await streams.publish(2);
        await streams.publish(3);
        await streams.expect(live, [0, 1, 2, 3], "after the fault");
        await streams.expect(resumed, [1, 2, 3], "after the fault");
        await streams.expect(fromHead, [2, 3], "after the fault");
        await streams.expect(unusable, [2, 3], "after its refetch");
        assert.equal(unusable.sink.frames[0]?.event, "gateway.refetch", "an unusable id starts with gateway.refetch");
        for (const stream of [live, resumed, fromHead]) {
          assert.deepEqual(stream.sink.frames.filter((frame) => frame.event === "gateway.refetch"), [], `${stream.name}: no refetch`);
        }
      } finally {
        streams.close();
      }
    },
  };
}

async function stallFor(faults: BusUnderTest["faults"], ms: number): Promise<() => Promise<void>> {
  await fault(faults, "stallCommands")(ms);
  return () => new Promise((resolve) => setTimeout(resolve, ms));
}

export const STREAM_CASES: readonly ConformanceCase[] = [
  opensDuringFault("streams opened while every command is refused catch up once it heals: nothing lost, repeated or stuck", "failCommands"),
  opensDuringFault("streams opened while commands time out catch up once the backend answers: nothing lost, repeated or stuck", "stallCommands"),
  opensDuringFault("streams opened while the in-flight cap is hit catch up once it clears: nothing lost, repeated or stuck", "saturate"),
  {
    title: "live streams get what was published while live delivery was down, once and in order",
    needs: ["dropLive"],
    async run({ bus, faults }) {
      const streams = new Streams(bus);
      try {
        const a = streams.open("a", { kind: "head" });
        const b = streams.open("b", { kind: "head" });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await streams.publish(0);
        await fault(faults, "dropLive")();
        for (let n = 1; n <= 10; n++) await streams.publish(n);
        await streams.expect(a, [...Array(11).keys()], "across the drop");
        await streams.expect(b, [...Array(11).keys()], "across the drop");
      } finally {
        streams.close();
      }
    },
  },
  {
    title: "after the backend restarts empty, a stream gets gateway.refetch and then every later event once",
    needs: ["restartEmpty"],
    async run({ bus, faults }) {
      const streams = new Streams(bus);
      try {
        const stream = streams.open("s", { kind: "head" });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await streams.publish(0);
        await streams.expect(stream, [0], "before the restart");
        await fault(faults, "restartEmpty")();
        await until(() => stream.sink.frames.some((frame) => frame.event === "gateway.refetch"), "gateway.refetch", 10_000);
        await streams.publish(1);
        await streams.expect(stream, [0, 1], "after the refetch");
      } finally {
        streams.close();
      }
    },
  },
  {
    title: "a failed history read is retried by its stream alone, not by every stream",
    needs: ["failCommands"],
    async run({ bus, faults }) {
      const counted = countingReads(bus);
      const streams = new Streams(counted.bus);
      try {
        const healthy = Array.from({ length: 50 }, (_, i) => streams.open(`healthy-${i}`, { kind: "head" }));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const first = await streams.publish(0);
        for (const stream of healthy) await streams.expect(stream, [0], "before the fault");
        const heal = await fault(faults, "failCommands")();
        counted.reads = 0;
        const failing = streams.open("failing", { kind: "after", position: { ms: position(first).ms - 1, seq: 0 } });
        await new Promise((resolve) => setTimeout(resolve, 500));
        await heal();
        await streams.expect(failing, [0], "after the fault");
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.ok(counted.reads <= 10, `${counted.reads} history reads for one failing stream among 50 healthy ones`);
      } finally {
        streams.close();
      }
    },
  },
];

/** The bus with a count of its history reads. */
function countingReads(bus: EventBus): { readonly bus: EventBus; reads: number } {
  const counted = {
    reads: 0,
    bus: {
      attach: (listener) => bus.attach(listener),
      publish: (event) => bus.publish(event),
      readPage: (channels, from, limits) => {
        counted.reads++;
        return bus.readPage(channels, from, limits);
      },
      head: () => bus.head(),
      findByIdempotencyKey: (key) => bus.findByIdempotencyKey(key),
      watch: (channel) => bus.watch(channel),
      unwatch: (channel) => bus.unwatch(channel),
      health: () => bus.health(),
      close: () => bus.close(),
    } satisfies EventBus,
  };
  return counted;
}
