import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelay } from "../../src/hub/backoff.ts";
import { FailureLog } from "../../src/hub/failure-log.ts";
import { HeldEvents } from "../../src/hub/held-events.ts";
import { ReadGate } from "../../src/hub/read-gate.ts";
import type { GatewayEvent } from "../../src/events/event.ts";

describe("the hub's parts", () => {
  it("the read gate runs at most its limit at once, all of them in the end, failures included", async () => {
    const gate = new ReadGate(3);
    let running = 0;
    let most = 0;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        gate.run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 1 + (i % 3)));
          running--;
          if (i % 5 === 0) throw new Error(`call ${i} failed`);
          return i;
        }),
      ),
    );
    assert.equal(most, 3);
    assert.equal(results.filter((result) => result.status === "fulfilled").length, 16);
    assert.equal(results.filter((result) => result.status === "rejected").length, 4);
  });

  it("backoff doubles up to its ceiling and jitters within the upper half", () => {
    const limits = { baseMs: 100, maxMs: 2000 };
    assert.deepEqual([0, 1, 2, 3, 4, 5, 40].map((attempt) => backoffDelay(attempt, limits, () => 1)), [100, 200, 400, 800, 1600, 2000, 2000]);
    assert.deepEqual([0, 5].map((attempt) => backoffDelay(attempt, limits, () => 0)), [50, 1000]);
  });

  it("held events let go of everything past either limit, and say so until the next read", () => {
    const event = (n: number, bytes: number): GatewayEvent => ({ ms: n, seq: 0, id: `${n}-0`, type: "t", dataJson: "x".repeat(bytes), channels: ["u:a"] });
    const held = new HeldEvents({ maxEvents: 3, maxBytes: 100 });
    held.add(event(1, 10));
    held.add(event(2, 10));
    assert.deepEqual([held.size, held.bytes, held.overflowed], [2, 20, false]);
    held.add(event(3, 90));
    assert.deepEqual([held.size, held.bytes, held.overflowed], [0, 0, true], "past the bytes");
    held.readBegins();
    for (let n = 4; n <= 7; n++) held.add(event(n, 1));
    assert.deepEqual([held.size, held.overflowed], [0, true], "past the count");
    held.readBegins();
    held.add(event(8, 1));
    assert.deepEqual(held.takeAll().map((e) => e.id), ["8-0"]);
  });

  it("the failure log writes one line per period, counting what it left out", () => {
    let now = 0;
    const lines: string[] = [];
    const log = new FailureLog((message) => lines.push(message), () => now);
    for (let i = 0; i < 1000; i++) log.failed("reading history", new Error("down"));
    now += 10_000;
    log.failed("starting a stream", new Error("down"));
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /and 999 other failed bus calls/);
  });
});
