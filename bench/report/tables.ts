import type { ServerKind } from "../servers/protocol.ts";
import type { RateScenario } from "../scenarios/results.ts";
import type { ServerSummary } from "./aggregate.ts";

const KINDS: readonly ServerKind[] = ["gateway", "nchan", "bare-node"];

interface Row {
  readonly label: string;
  readonly values: ReadonlyMap<ServerKind, number | undefined>;
  readonly digits: number;
  /** Whether gateway/peer ratios mean something for this figure. */
  readonly ratios: boolean;
}

function format(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || !Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator === 0) return "–";
  return `${(numerator / denominator).toFixed(2)}×`;
}

function table(rows: readonly Row[]): string {
  const lines = ["| figure | gateway | nchan | bare Node | gateway / nchan | gateway / bare Node |", "|---|---:|---:|---:|---:|---:|"];
  for (const row of rows) {
    const cells = KINDS.map((kind) => format(row.values.get(kind), row.digits));
    const gateway = row.ratios ? row.values.get("gateway") : undefined;
    lines.push(`| ${row.label} | ${cells.join(" | ")} | ${ratio(gateway, row.values.get("nchan"))} | ${ratio(gateway, row.values.get("bare-node"))} |`);
  }
  return lines.join("\n");
}

function row(
  label: string,
  digits: number,
  summaries: ReadonlyMap<ServerKind, ServerSummary>,
  pick: (summary: ServerSummary) => number | undefined,
  ratios = true,
): Row {
  return { label, digits, ratios, values: new Map(KINDS.map((kind) => [kind, summaries.has(kind) ? pick(summaries.get(kind)!) : undefined])) };
}

function allKeys(summaries: ReadonlyMap<ServerKind, ServerSummary>, keysOf: (summary: ServerSummary) => Iterable<number>): number[] {
  return [...new Set([...summaries.values()].flatMap((summary) => [...keysOf(summary)]))].sort((a, b) => a - b);
}

export function idleTable(summaries: ReadonlyMap<ServerKind, ServerSummary>): string {
  const rows = allKeys(summaries, (summary) => summary.idle.keys()).flatMap((streams) => [
    row(`${streams.toLocaleString("en-US")} streams: memory per stream (KiB)`, 1, summaries, (summary) => {
      const bytes = summary.idle.get(streams)?.bytesPerStream;
      return bytes === undefined ? undefined : bytes / 1024;
    }),
    row(`${streams.toLocaleString("en-US")} streams: server CPU to open (ms per 1000)`, 0, summaries, (summary) => summary.idle.get(streams)?.openCpuMsPer1k),
    row(`${streams.toLocaleString("en-US")} streams: failed to open`, 0, summaries, (summary) => summary.idle.get(streams)?.failed, false),
  ]);
  return table(rows);
}

export function rateTable(summaries: ReadonlyMap<ServerKind, ServerSummary>, scenario: RateScenario): string {
  const rows = allKeys(summaries, (summary) => summary.rates[scenario].keys()).flatMap((rate) => {
    const at = (summary: ServerSummary) => summary.rates[scenario].get(rate);
    const prefix = `${rate.toLocaleString("en-US")} ev/s:`;
    return [
      row(`${prefix} deliveries/s`, 0, summaries, (summary) => at(summary)?.deliveriesPerSecond),
      row(`${prefix} delivered share (%)`, 1, summaries, (summary) => {
        const share = at(summary)?.deliveredShare;
        return share === undefined ? undefined : share * 100;
      }),
      row(`${prefix} server CPU (%)`, 0, summaries, (summary) => at(summary)?.serverCpuPercent),
      row(`${prefix} server CPU per delivery (µs)`, 1, summaries, (summary) => {
        const step = at(summary);
        return step && step.deliveriesPerSecond > 0 ? (step.serverCpuPercent / 100) * 1e6 / step.deliveriesPerSecond : undefined;
      }),
      row(`${prefix} server waiting for a CPU (%)`, 0, summaries, (summary) => at(summary)?.serverCpuWaitPercent, false),
      row(`${prefix} load-side CPU (%)`, 0, summaries, (summary) => at(summary)?.loadCpuPercent),
      row(`${prefix} latency p50 (ms)`, 1, summaries, (summary) => at(summary)?.p50Ms),
      row(`${prefix} latency p99 (ms)`, 1, summaries, (summary) => at(summary)?.p99Ms),
    ];
  });
  return table(rows);
}

/** The highest rate each server sustained without saturating, per scenario. */
export function saturationLine(summaries: ReadonlyMap<ServerKind, ServerSummary>, scenario: RateScenario): string {
  const parts = KINDS.filter((kind) => summaries.has(kind)).map((kind) => {
    const steps = [...summaries.get(kind)!.rates[scenario].values()];
    const sustained = steps.filter((step) => !step.saturated).map((step) => step.rate);
    const saturatedAt = steps.find((step) => step.saturated)?.rate;
    const best = sustained.length > 0 ? `${Math.max(...sustained)} ev/s sustained` : "no rate sustained";
    return `${kind}: ${best}${saturatedAt === undefined ? " (not saturated)" : `, saturated at ${saturatedAt} ev/s`}`;
  });
  return parts.join("; ");
}
