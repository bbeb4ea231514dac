import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { summarise } from "../../bench/report/aggregate.ts";
import { DOCS_DIR, outputDir, replaceSection, writeDocSection } from "../../bench/report/benchmarks-doc.ts";
import { renderChart } from "../../bench/report/svg-chart.ts";
import { rateTable } from "../../bench/report/tables.ts";
import type { RateFigures, ServerRun } from "../../bench/scenarios/results.ts";
import type { ServerKind } from "../../bench/servers/protocol.ts";

function step(rate: number, deliveriesPerSecond: number, p99Ms: number, saturated = false): RateFigures {
  return {
    rate,
    offeredDeliveriesPerSecond: rate * 10,
    deliveriesPerSecond,
    deliveredShare: 1,
    rejectedPublishes: 0,
    serverCpuPercent: 50,
    serverCpuWaitPercent: 1,
    loadCpuPercent: 40,
    p50Ms: p99Ms / 2,
    p99Ms,
    saturated,
  };
}

function run(kind: ServerKind, deliveries: number, p99Ms: number): ServerRun {
  return { kind, idle: [], rates: { broadcast: [step(10, deliveries, p99Ms)], "per-user": [] } };
}

test("summaries take the median of repetitions, and the table gives gateway ratios", () => {
  const summaries = summarise([run("gateway", 100, 9), run("gateway", 300, 1), run("gateway", 200, 5), run("nchan", 400, 2), run("bare-node", 100, 4)]);
  assert.equal(summaries.get("gateway")?.rates.broadcast.get(10)?.deliveriesPerSecond, 200);
  assert.equal(summaries.get("gateway")?.rates.broadcast.get(10)?.p99Ms, 5);
  const table = rateTable(summaries, "broadcast");
  assert.match(table, /\| 10 ev\/s: deliveries\/s \| 200 \| 400 \| 100 \| 0\.50× \| 2\.00× \|/);
  assert.match(table, /\| 10 ev\/s: latency p99 \(ms\) \| 5\.0 \| 2\.0 \| 4\.0 \| 2\.50× \| 1\.25× \|/);
  assert.match(table, /\| 10 ev\/s: server waiting for a CPU \(%\) \| 1 \| 1 \| 1 \| – \| – \|/, "no ratios of machine noise");
});

test("the chart draws one line per server on log axes, saturated points hollow", () => {
  const svg = renderChart({
    title: "p99 <test>",
    xLabel: "rate",
    yLabel: "ms",
    series: [
      { name: "a", color: "#111", points: [step(1, 1, 2), step(10, 1, 20), step(100, 1, 2000, true)].map((s) => ({ x: s.rate, y: s.p99Ms, saturated: s.saturated })) },
      { name: "b", color: "#222", points: [{ x: 1, y: 1 }, { x: 100, y: Number.NaN }] },
    ],
  });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /p99 &lt;test&gt;/);
  assert.equal(svg.match(/<polyline /g)?.length, 1);
  assert.equal(svg.match(/<circle /g)?.length, 4);
  assert.equal(svg.match(/<circle [^>]*fill="white"/g)?.length, 1);
  const xs = [...svg.matchAll(/<circle cx="([\d.]+)"[^>]*stroke="#111"/g)].map((match) => Number(match[1]));
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  assert.ok(xs[1]! - xs[0]! > 0 && Math.abs(xs[1]! - xs[0]! - (xs[2]! - xs[1]!)) < 0.5, "decades are evenly spaced");
});

test("a document section is replaced in place, others left alone", () => {
  const doc = "# B\n\n<!-- bench:servers -->\nold\n<!-- /bench:servers -->\n\n<!-- bench:writers -->\nkeep\n<!-- /bench:writers -->\n";
  const updated = replaceSection(doc, "servers", "new");
  assert.match(updated, /<!-- bench:servers -->\nnew\n<!-- \/bench:servers -->/);
  assert.match(updated, /keep/);
  assert.doesNotMatch(updated, /old/);
  assert.match(replaceSection("# B\n", "writers", "w"), /<!-- bench:writers -->\nw\n<!-- \/bench:writers -->\n$/);
});

test("a run writes to a folder git ignores, and to docs/ only with --write-docs", async () => {
  const ignored = (file: string) => spawnSync("git", ["check-ignore", "-q", file], { cwd: DOCS_DIR }).status === 0;
  assert.equal(outputDir(true), DOCS_DIR);
  assert.notEqual(outputDir(false), DOCS_DIR);
  for (const file of ["benchmarks.md", "benchmarks-broadcast-p99.svg", "benchmarks-per-user-p99.svg"]) {
    assert.ok(ignored(`${outputDir(false)}${file}`), `${file} of a default run is ignored by git`);
    assert.ok(!ignored(`${DOCS_DIR}${file}`), `docs/${file} is tracked`);
  }
  const dir = `${mkdtempSync(`${tmpdir()}/bench-doc-`)}/`;
  try {
    const path = await writeDocSection(dir, "servers", "figures");
    assert.match(readFileSync(path, "utf8"), /<!-- bench:servers -->\nfigures\n<!-- \/bench:servers -->/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
