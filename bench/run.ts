import { mkdir, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { LoadFleet, STREAMS_PER_WORKER } from "./load/load-fleet.ts";
import { summarise } from "./report/aggregate.ts";
import { DOCS_DIR, outputDir, writeDocSection } from "./report/benchmarks-doc.ts";
import { environmentLines } from "./report/environment.ts";
import { CHART_FILES, p99Chart, serversSection } from "./report/servers-section.ts";
import { runClusterScenario } from "./scenarios/cluster.ts";
import { runGatewayExtras, type GatewayExtras } from "./scenarios/gateway-extras.ts";
import { gatewayExtrasSection } from "./report/gateway-extras-section.ts";
import { FULL_PLAN, QUICK_PLAN, type BenchPlan } from "./scenarios/plan.ts";
import type { ServerRun } from "./scenarios/results.ts";
import { runServerScenarios } from "./scenarios/server-scenarios.ts";
import { contenders } from "./servers/contenders.ts";
import { STORAGE_V1_COMMIT, checkOutSources, measureStorage, storageSection, type StorageFigures } from "./redis-storage.ts";
import { runWriterChoice } from "./sse-writer-choice.ts";

/**
 * `npm run bench` (quick), `npm run bench -- --full`, `npm run bench -- --writers`,
 * `npm run bench -- --redis [--redis-before <commit>|none]` (Redis storage, before and after).
 * Runs the gateway, nginx + nchan and a bare Node server through the same scenarios and writes
 * benchmarks.md with the figures, their ratios and p99 charts: to artifacts/bench/, or to docs/
 * with `--write-docs`.
 */
const { values: flags } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    writers: { type: "boolean", default: false },
    servers: { type: "string" },
    "write-docs": { type: "boolean", default: false },
    redis: { type: "boolean", default: false },
    "redis-before": { type: "string", default: STORAGE_V1_COMMIT },
  },
});
const dir = outputDir(flags["write-docs"]);

const startedAt = performance.now();
const log = (line: string): void => console.log(line.startsWith("#") ? line : `[${((performance.now() - startedAt) / 1000).toFixed(0).padStart(4)} s] ${line}`);

async function compareServers(plan: BenchPlan): Promise<void> {
  const wanted = flags.servers?.split(",");
  const all = contenders().filter((contender) => !wanted || wanted.includes(contender.kind));
  const skipped = all.filter((contender) => contender.unavailable !== undefined).map((contender) => `${contender.kind}: ${contender.unavailable}`);
  for (const line of skipped) log(`skipping ${line}`);
  const runnable = all.filter((contender) => contender.unavailable === undefined);
  const largest = Math.max(...plan.idleLevels, plan.broadcastStreams, plan.userStreams);
  const fleet = new LoadFleet(Math.max(2, Math.ceil(largest / STREAMS_PER_WORKER)));
  const runs: ServerRun[] = [];
  let cluster: Awaited<ReturnType<typeof runClusterScenario>>;
  let extras: GatewayExtras | undefined;
  try {
    for (let repetition = 0; repetition < plan.repetitions; repetition++) {
      const order = repetition % 2 === 0 ? runnable : [...runnable].reverse();
      for (const contender of order) {
        log(`[${repetition + 1}/${plan.repetitions}] ${contender.kind}`);
        runs.push(await runServerScenarios(contender, fleet, plan, log));
      }
    }
    const gatewayWanted = !wanted || wanted.includes("gateway");
    if (gatewayWanted) {
      log("gateway: defaults, batch publish, token verification");
      extras = await runGatewayExtras(plan, fleet, log);
    }
    cluster = gatewayWanted ? await runClusterScenario(plan, fleet, log) : { markdown: "Not run (gateway not selected)." };
  } finally {
    fleet.stop();
  }
  const summaries = summarise(runs);
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}${CHART_FILES.broadcast}`, p99Chart(summaries, "broadcast", `Broadcast to ${plan.broadcastStreams} streams: p99 latency`));
  await writeFile(`${dir}${CHART_FILES["per-user"]}`, p99Chart(summaries, "per-user", `Events to random users (${plan.userStreams}): p99 latency`));
  const extrasMarkdown = extras ? gatewayExtrasSection(extras, summaries) : "";
  const section = serversSection({ plan, environment: environmentLines(), summaries, skipped, clusterMarkdown: `${cluster.markdown}\n\n${extrasMarkdown}` });
  log(section);
  log(`written to ${await writeDocSection(dir, "servers", section)}${writtenNote()}`);
}

function writtenNote(): string {
  return dir === DOCS_DIR ? "" : " (docs/ unchanged: --write-docs updates docs/benchmarks.md and its charts)";
}

/** The Redis storage figures of an older commit (before) and of this checkout (after). */
async function compareRedisStorage(): Promise<void> {
  const figures: StorageFigures[] = [];
  const before = flags["redis-before"];
  if (before !== "none") {
    const sources = checkOutSources(before);
    try {
      log(`Redis storage at ${before}`);
      figures.push(await measureStorage(`before (${before})`, sources.root));
    } finally {
      sources.remove();
    }
  }
  log("Redis storage of this checkout");
  figures.push(await measureStorage("after (this checkout)", new URL("..", import.meta.url).pathname));
  const section = storageSection(figures, environmentLines());
  log(section);
  log(`written to ${await writeDocSection(dir, "redis-storage", section)}${writtenNote()}`);
}

pinSelfToLoad();
if (flags.redis) await compareRedisStorage();
else if (flags.writers) await runWriterChoice(flags.full ? "full" : "quick", dir, log);
else await compareServers(flags.full ? FULL_PLAN : QUICK_PLAN);
