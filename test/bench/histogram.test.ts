import assert from "node:assert/strict";
import { test } from "node:test";
import { LatencyHistogram } from "../../bench/lib/histogram.ts";

function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

test("quantiles are within the 2 % bucket width of the exact ones", () => {
  const samples = Array.from({ length: 20_000 }, () => Math.exp(Math.random() * 9 - 3));
  const histogram = new LatencyHistogram();
  for (const sample of samples) histogram.record(sample);
  const sorted = [...samples].sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99, 0.999]) {
    const exact = exactQuantile(sorted, q);
    const estimate = histogram.quantile(q);
    assert.ok(estimate >= exact && estimate <= exact * 1.021, `q${q}: ${estimate} vs ${exact}`);
  }
});

test("merged histograms answer as one holding all samples", () => {
  const low = new LatencyHistogram();
  const high = new LatencyHistogram();
  for (let i = 0; i < 99; i++) low.record(1);
  high.record(500);
  const merged = new LatencyHistogram(low.counts);
  merged.merge(new LatencyHistogram(high.counts));
  assert.equal(merged.count, 100);
  assert.ok(merged.quantile(0.5) < 1.03);
  assert.ok(merged.quantile(1) >= 500 && merged.quantile(1) < 511);
  assert.ok(Number.isNaN(new LatencyHistogram().quantile(0.5)));
});
