import { fileURLToPath } from "node:url";
import { sleep } from "./lib/clock.ts";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { median } from "./lib/stats.ts";
import { LoadFleet } from "./load/load-fleet.ts";
import { Publisher } from "./load/publisher.ts";
import { outputDir, writeDocSection } from "./report/benchmarks-doc.ts";
import { environmentLines } from "./report/environment.ts";
import { measureRate } from "./scenarios/rate-step.ts";
import type { RateFigures } from "./scenarios/results.ts";
import { freePort, startServerProcess } from "./servers/server-process.ts";
import { WRITER_DESCRIPTIONS, WRITER_VARIANTS, type WriterVariant } from "./writers/variants.ts";

/**
 * Which SSE writer should fastify's hot path use? The same fan-out load (streams on one topic,
 * fixed publish rates) against four writers, measuring deliveries/s and server CPU, as ratios
 * to each other within one run. `npm run bench -- --writers` or `npm run bench:writers`.
 */
const WRITER_SERVER = fileURLToPath(new URL("./writers/writer-server.ts", import.meta.url));

interface WriterPlan {
  readonly repetitions: number;
  readonly streams: number;
  readonly rates: readonly number[];
  readonly durationMs: number;
}

const PLANS: Record<"quick" | "full", WriterPlan> = {
  quick: { repetitions: 1, streams: 2_000, rates: [10, 40], durationMs: 3_000 },
  full: { repetitions: 3, streams: 2_000, rates: [10, 25, 40], durationMs: 6_000 },
};

/** CPU time per delivered event, in µs: the cost that decides fan-out capacity. */
function cpuMicrosPerDelivery(step: RateFigures): number {
  return (step.serverCpuPercent / 100 / step.deliveriesPerSecond) * 1e6;
}

async function measureWriter(variant: WriterVariant, plan: WriterPlan, fleet: LoadFleet): Promise<RateFigures[]> {
  const port = await freePort();
  const server = await startServerProcess(process.execPath, [WRITER_SERVER, variant], { PORT: String(port) }, port, "/healthz");
  const publisher = new Publisher("bare-node", port, "");
  const everyone = () => ({ topic: "bench" });
  try {
    const opened = await fleet.open("bare-node", port, "", plan.streams, "topic");
    if (opened.firstError) throw new Error(`${variant}: ${opened.failed} streams failed: ${opened.firstError}`);
    await publisher.run(10, 1_000, everyone);
    await sleep(500);
    const figures: RateFigures[] = [];
    for (const rate of plan.rates) {
      figures.push(await measureRate({ fleet, publisher, serverPids: [server.pid], rate, durationMs: plan.durationMs, fanOut: plan.streams, targetOf: everyone }));
    }
    return figures;
  } finally {
    publisher.close();
    await fleet.closeAll();
    await server.stop();
  }
}

function section(plan: WriterPlan, results: Map<WriterVariant, RateFigures[][]>): string {
  const lines = [
    `## SSE writer for fastify (${plan.streams.toLocaleString("en-US")} streams on one topic, ${plan.repetitions === 1 ? "1 repetition" : `${plan.repetitions} repetitions, medians`})`,
    "",
    ...environmentLines(),
    "",
    "Each writer runs in the same fastify server; `POST /publish` fans one event out to every stream.",
    "CPU per delivery is the server's CPU time over the events delivered; the ratio compares it with",
    "the close-delimited socket writer. A high share of time waiting for a CPU means other programs",
    "were busy on the server's CPU during that step.",
    "",
  ];
  const baseline = new Map<number, number>();
  for (const [index, rate] of plan.rates.entries()) {
    const runs = results.get("raw-close")?.map((run) => run[index]).filter((step) => step !== undefined) ?? [];
    baseline.set(rate, median(runs.map(cpuMicrosPerDelivery)));
  }
  for (const [index, rate] of plan.rates.entries()) {
    lines.push(`### ${rate} events/s (${(rate * plan.streams).toLocaleString("en-US")} deliveries/s offered)`, "");
    lines.push(
      "| writer | deliveries/s | server CPU (%) | CPU per delivery (µs) | vs close-delimited | p99 (ms) | server waiting for a CPU (%) |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const variant of WRITER_VARIANTS) {
      const steps = (results.get(variant) ?? []).map((run) => run[index]).filter((step) => step !== undefined);
      const micros = median(steps.map(cpuMicrosPerDelivery));
      const cells = [
        median(steps.map((step) => step.deliveriesPerSecond)).toFixed(0),
        median(steps.map((step) => step.serverCpuPercent)).toFixed(0),
        micros.toFixed(2),
        `${(micros / (baseline.get(rate) ?? Number.NaN)).toFixed(2)}×`,
        median(steps.map((step) => step.p99Ms)).toFixed(1),
        median(steps.map((step) => step.serverCpuWaitPercent)).toFixed(0),
      ];
      lines.push(`| ${WRITER_DESCRIPTIONS[variant]} | ${cells.join(" | ")} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** `dir`: where benchmarks.md is (see outputDir). */
export async function runWriterChoice(mode: "quick" | "full", dir: string, log: (line: string) => void): Promise<void> {
  const plan = PLANS[mode];
  const fleet = new LoadFleet(2);
  const results = new Map<WriterVariant, RateFigures[][]>();
  try {
    for (let repetition = 0; repetition < plan.repetitions; repetition++) {
      const order = repetition % 2 === 0 ? WRITER_VARIANTS : [...WRITER_VARIANTS].reverse();
      for (const variant of order) {
        const figures = await measureWriter(variant, plan, fleet);
        results.set(variant, [...(results.get(variant) ?? []), figures]);
        for (const step of figures) {
          log(`${variant} ${step.rate}/s: ${Math.round(step.deliveriesPerSecond)} deliveries/s, CPU ${step.serverCpuPercent.toFixed(0)} %, ${cpuMicrosPerDelivery(step).toFixed(2)} µs/delivery, p99 ${step.p99Ms.toFixed(1)} ms`);
        }
      }
    }
  } finally {
    fleet.stop();
  }
  const markdown = section(plan, results);
  log(markdown);
  log(`written to ${await writeDocSection(dir, "writers", markdown)}`);
}

if (import.meta.main) {
  pinSelfToLoad();
  await runWriterChoice(process.argv.includes("--full") ? "full" : "quick", outputDir(process.argv.includes("--write-docs")), console.log);
}
