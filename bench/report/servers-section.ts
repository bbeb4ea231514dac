import type { ServerKind } from "../servers/protocol.ts";
import type { BenchPlan } from "../scenarios/plan.ts";
import type { RateScenario } from "../scenarios/results.ts";
import type { ServerSummary } from "./aggregate.ts";
import { renderChart, type ChartSeries } from "./svg-chart.ts";
import { idleTable, rateTable, saturationLine } from "./tables.ts";

const COLORS: Record<ServerKind, string> = { gateway: "#1f77b4", nchan: "#d62728", "bare-node": "#2ca02c" };

export const CHART_FILES: Record<RateScenario, string> = {
  broadcast: "benchmarks-broadcast-p99.svg",
  "per-user": "benchmarks-per-user-p99.svg",
};

export function p99Chart(summaries: ReadonlyMap<ServerKind, ServerSummary>, scenario: RateScenario, title: string): string {
  const series: ChartSeries[] = [...summaries].map(([kind, summary]) => ({
    name: kind,
    color: COLORS[kind],
    points: [...summary.rates[scenario].values()].map((step) => ({ x: step.rate, y: step.p99Ms, saturated: step.saturated })),
  }));
  return renderChart({ title, xLabel: "publish rate (events/s)", yLabel: "p99 latency (ms)", series });
}

export interface ServersSectionInput {
  readonly plan: BenchPlan;
  readonly environment: readonly string[];
  readonly summaries: ReadonlyMap<ServerKind, ServerSummary>;
  readonly skipped: readonly string[];
  readonly clusterMarkdown: string;
}

export function serversSection(input: ServersSectionInput): string {
  const { plan, summaries } = input;
  const repetitions = plan.repetitions === 1 ? "1 repetition" : `${plan.repetitions} repetitions, medians, server order alternating`;
  return `## Servers side by side (${plan.mode} mode, ${repetitions})

${[...input.environment, ...input.skipped.map((line) => `- Not run: ${line}`)].join("\n")}

The gateway (\`node src/main.ts\`, HS256 tokens, LOG_LEVEL=warn), nginx + nchan (one worker) and a
bare Node.js \`http\` SSE server (one frame written to every response, one heartbeat timer; no
auth, history or limits) each start fresh and run the same scenarios. Load comes from worker
processes on raw sockets from many loopback source addresses (127.1.0.2, ...); latency is from the time an event was due
to be published (a monotonic clock shared by all processes) to its receipt. Each rate is held
${plan.rateDurationMs / 1000} s; a step is *saturated* when a delivery was lost or a publish refused, when
deliveries/s fell under 90 % of the offered rate, or when p99 passed 2 s; no higher rate is tried then. "Server waiting for a CPU" is the time the
server was ready to run but other programs held the CPU (from /proc schedstat): when it is high,
the machine was busy and the figures of that row say more about the machine than the server.
When the load side's CPU nears 100 %, the load workers, not the server, limit the figures.

### A. Idle streams (memory per stream is PSS of the server's processes over their baseline)

${idleTable(summaries)}

### B. Broadcast: ${plan.broadcastStreams.toLocaleString("en-US")} streams on one topic

${rateTable(summaries, "broadcast")}

Highest rate: ${saturationLine(summaries, "broadcast")}.

![p99 latency against publish rate, broadcast](${CHART_FILES.broadcast})

### C. Per user: ${plan.userStreams.toLocaleString("en-US")} streams of ${plan.userStreams.toLocaleString("en-US")} users, events to random users

${rateTable(summaries, "per-user")}

Highest rate: ${saturationLine(summaries, "per-user")}.

![p99 latency against publish rate, per user](${CHART_FILES["per-user"]})

### D. Two gateways through Redis

${input.clusterMarkdown}
`;
}
