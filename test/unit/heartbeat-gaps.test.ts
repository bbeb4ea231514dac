import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import fc from "fast-check";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { HEARTBEAT_SLICES, longestSilenceMs } from "../../src/hub/heartbeat-rotation.ts";
import { Hub } from "../../src/hub/hub.ts";
import type { StreamSink } from "../../src/hub/stream-sink.ts";

const INTERVAL_MS = 3000;
const SLICE_MS = INTERVAL_MS / HEARTBEAT_SLICES;

/** A sink that remembers when it last got a byte (mocked clock) and can be closed by the client. */
class RecordingSink implements StreamSink {
  lastByteAt = Date.now();
  bufferedBytes = 0;
  #onClose: (() => void) | undefined;

  write(): void {
    this.lastByteAt = Date.now();
  }
  onFlushed(listener: () => void): void {
    listener();
  }
  end(): void {
    this.clientCloses();
  }
  destroy(): void {
    this.clientCloses();
  }
  onClose(listener: () => void): void {
    this.#onClose = listener;
  }
  clientCloses(): void {
    const listener = this.#onClose;
    this.#onClose = undefined;
    listener?.();
  }
}

type Step =
  | { readonly kind: "open"; readonly count: number }
  | { readonly kind: "close"; readonly pick: number }
  | { readonly kind: "event"; readonly pick: number }
  | { readonly kind: "tick"; readonly slices: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("open" as const), count: fc.integer({ min: 1, max: 40 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("close" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("event" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("tick" as const), slices: fc.integer({ min: 1, max: 5 }) }) },
);

describe("heartbeats under churn", () => {
  beforeEach(() => mock.timers.enable({ apis: ["setInterval", "setTimeout", "Date"], now: 1_700_000_000_000 }));
  afterEach(() => mock.timers.reset());

  it("no stream goes longer than the interval plus one slice without a byte, with thousands opening and closing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 50, maxLength: 400 }), async (steps) => {
        const bus = new MemoryBus({ maxEvents: 10, maxAgeMs: 60_000, idempotencyWindowMs: 60_000 });
        const hub = new Hub(bus, {
          heartbeatIntervalMs: INTERVAL_MS,
          maxBufferBytes: 1 << 20,
          maxConnections: 1_000_000,
          maxConnectionsPerUser: 1_000_000,
          maxOpensPerUserPerMinute: 1_000_000,
          retryMs: 1000,
          retryJitterMs: 1000,
        });
        const open: { sink: RecordingSink; channel: string }[] = [];
        let opened = 0;
        try {
          for (const current of steps) {
            if (current.kind === "open") {
              for (let i = 0; i < current.count; i++) {
                const sink = new RecordingSink();
                const channel = `user:u${opened++}`;
                hub.open({ userId: `u${opened}`, channels: [channel], sink, start: { kind: "head" } });
                open.push({ sink, channel });
              }
              // The bus answers the opens (their first bytes wait for the start position).
              await new Promise((resolve) => setImmediate(resolve));
            } else if (current.kind === "close" && open.length > 0) {
              const [closed] = open.splice(current.pick % open.length, 1);
              closed!.sink.clientCloses();
            } else if (current.kind === "event" && open.length > 0) {
              await bus.publish({ type: "t", dataJson: "1", channels: [open[current.pick % open.length]!.channel] });
            } else if (current.kind === "tick") {
              for (let i = 0; i < current.slices; i++) {
                mock.timers.tick(SLICE_MS);
                for (const { sink } of open) {
                  const quietFor = Date.now() - sink.lastByteAt;
                  assert.ok(quietFor <= longestSilenceMs(INTERVAL_MS), `a stream was quiet for ${quietFor} ms`);
                }
              }
            }
          }
          assert.equal(hub.size, open.length);
        } finally {
          hub.close();
          await bus.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
