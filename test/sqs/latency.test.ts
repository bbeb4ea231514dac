import assert from "node:assert/strict";
import { test } from "node:test";
import { measureSqsToSseLatency } from "../../bench/sqs-latency.ts";

test("the SQS-to-SSE latency probe the bench uses times every message", { timeout: 30_000 }, async () => {
  const result = await measureSqsToSseLatency({ messages: 20 });
  assert.equal(result.messages, 20);
  assert.ok(result.p50Ms > 0 && result.p50Ms <= result.p99Ms && result.p99Ms <= result.maxMs, JSON.stringify(result));
  // Generous: an emulator on loopback answers in milliseconds; seconds would mean a poll waited out.
  assert.ok(result.p99Ms < 2000, `p99 ${result.p99Ms} ms`);
});
