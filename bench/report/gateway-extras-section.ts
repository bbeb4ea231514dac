import type { GatewayExtras } from "../scenarios/gateway-extras.ts";
import { cpuPerDeliveryUs } from "../scenarios/gateway-extras.ts";
import type { RateFigures } from "../scenarios/results.ts";
import type { ServerKind } from "../servers/protocol.ts";
import type { ServerSummary } from "./aggregate.ts";

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? "–" : value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function times(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || !Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator === 0) return "–";
  return `${(numerator / denominator).toFixed(2)}×`;
}

/** One series of scenario E's table: a server's per-user steps by rate. */
interface Series {
  readonly name: string;
  readonly steps: ReadonlyMap<number, RateFigures>;
}

function perUser(summaries: ReadonlyMap<ServerKind, ServerSummary>, kind: ServerKind): ReadonlyMap<number, RateFigures> {
  return summaries.get(kind)?.rates["per-user"] ?? new Map();
}

/** Scenario E next to scenario C: CPU per delivered event and p99 at each per-user rate. */
export function gatewayExtrasSection(extras: GatewayExtras, summaries: ReadonlyMap<ServerKind, ServerSummary>): string {
  const [defaults, batch] = extras.variants;
  const series: Series[] = [
    { name: "nchan", steps: perUser(summaries, "nchan") },
    { name: "bare Node", steps: perUser(summaries, "bare-node") },
    { name: "gateway, tuned, /publish (C)", steps: perUser(summaries, "gateway") },
    ...extras.variants.map((variant) => ({ name: `gateway, ${variant.name}`, steps: new Map(variant.steps.map((step) => [step.rate, step])) })),
  ];
  const rates = [...new Set(series.flatMap((one) => [...one.steps.keys()]))].sort((a, b) => a - b);
  const header = `| figure | ${series.map((one) => one.name).join(" | ")} | batch / nchan | defaults / tuned | tuned / bare Node |`;
  const lines = [header, `|---|${series.map(() => "---:").join("|")}|---:|---:|---:|`];
  for (const rate of rates) {
    const cpu = series.map((one) => (one.steps.has(rate) ? cpuPerDeliveryUs(one.steps.get(rate)!) : undefined));
    const [nchan, bare, tuned, byDefault, batched] = cpu;
    lines.push(`| ${rate.toLocaleString("en-US")} ev/s: server CPU per delivery (µs) | ${cpu.map((value) => fixed(value, 0)).join(" | ")} | ${times(batched, nchan)} | ${times(byDefault, tuned)} | ${times(tuned, bare)} |`);
    const p99 = series.map((one) => one.steps.get(rate)?.p99Ms);
    lines.push(`| ${rate.toLocaleString("en-US")} ev/s: latency p99 (ms) | ${p99.map((value) => fixed(value, 1)).join(" | ")} | ${times(p99[4], p99[0])} | ${times(p99[3], p99[2])} | – |`);
    const saturated = series.map((one) => (one.steps.get(rate)?.saturated ? "yes" : one.steps.has(rate) ? "no" : "–"));
    lines.push(`| ${rate.toLocaleString("en-US")} ev/s: saturated | ${saturated.join(" | ")} | – | – | – |`);
  }
  const gatewayOpen = summaries.get("gateway")?.idle.get(Math.max(...(summaries.get("gateway")?.idle.keys() ?? [0])))?.openCpuMsPer1k;
  return `### E. The gateway with a user's defaults and tuned; batch publish; token verification

"Tuned" is what scenarios A to D run: \`LOG_LEVEL=warn\`. "Defaults" is \`LOG_LEVEL\` unset (info),
the level a user gets. Both raise the stream limits (\`MAX_CONNECTIONS\` and the per-user ones) so
that the limits are not what is measured. The batch run publishes with \`POST /publish/batch\`:
the events that fall due together (one 2 ms send tick) go in one request, up to 100, each to its
own user. Every variant is a fresh gateway with ${"the same"} ${"user"} streams as scenario C.

- Token verification alone (HS256, the gateway's own verifier, a child process pinned to the
  server CPU, 3,000 distinct stream tokens): **${fixed(extras.tokenVerifyCpuMsPer1k, 0)} ms CPU per 1000**,
  out of the gateway's ${fixed(gatewayOpen, 0)} ms per 1000 stream opens in scenario A
  (${times(extras.tokenVerifyCpuMsPer1k, gatewayOpen)} of it).
- Stream opens of the user streams: defaults ${fixed(defaults?.openCpuMsPer1k, 0)} ms per 1000,
  ${fixed((defaults?.bytesPerStream ?? Number.NaN) / 1024, 1)} KiB per stream; batch run
  ${fixed(batch?.openCpuMsPer1k, 0)} ms per 1000, ${fixed((batch?.bytesPerStream ?? Number.NaN) / 1024, 1)} KiB per stream.

${lines.join("\n")}
`;
}
