import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeStoredEvent, type LiveMessage } from "../../src/bus/redis/event-codec.ts";
import { LiveAssembler } from "../../src/bus/redis/live-assembler.ts";
import type { GatewayEvent } from "../../src/events/event.ts";

const stored = (n: number) => `t\nu:a\n${JSON.stringify({ n })}`;
const event = (n: number): GatewayEvent => decodeStoredEvent(`1000-${n}`, stored(n))!;
const message = (n: number, inline: boolean): LiveMessage => (inline ? { event: event(n) } : { reference: { ms: 1000, seq: n, id: `1000-${n}` } });

/**
 * Whatever mix of whole events and references arrives (each id once or repeated, as an event to
 * several watched channels is), and whatever order the fetches answer in, the events come out
 * once each, in id order; a failed fetch reports a gap, with nothing after it delivered before
 * (what comes later the bus leaves to the catch-up the gap starts).
 */
test("the live assembler delivers each event once, in id order, whatever order fetches answer in", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ inline: fc.boolean(), repeats: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.nat(1000), { minLength: 40, maxLength: 40 }),
      fc.option(fc.nat(39), { nil: undefined }),
      async (arrivals, delays, failingAt) => {
        const delivered: number[] = [];
        const gaps: number[] = [];
        let fetches = 0;
        const assembler = new LiveAssembler({
          fetch: async (ids) => {
            const call = fetches++;
            await new Promise((resolve) => setTimeout(resolve, delays[call % delays.length]! % 5));
            if (failingAt !== undefined && ids.some((id) => id === `1000-${failingAt}`)) throw new Error("injected");
            return ids.map((id) => stored(Number(id.split("-")[1])));
          },
          decode: decodeStoredEvent,
          deliver: (delivery) => delivered.push(delivery.seq),
          onGap: () => gaps.push(delivered.length),
        });
        for (const [n, { inline, repeats }] of arrivals.entries()) {
          for (let i = 0; i < repeats; i++) assembler.accept(message(n, inline && i === 0));
          if (delays[n]! % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        const all = arrivals.map((_, n) => n);
        assert.deepEqual(delivered, [...new Set(delivered)].sort((a, b) => a - b), "once each, in order");
        if (gaps.length === 0) assert.deepEqual(delivered, all);
        else {
          assert.ok(failingAt !== undefined && !delivered.includes(failingAt), "nothing past a failed fetch is skipped to");
          const beforeGap = delivered.slice(0, gaps[0]);
          assert.deepEqual(beforeGap, all.slice(0, beforeGap.length), "a prefix, then the gap");
        }
      },
    ),
    { numRuns: 200 },
  );
});
