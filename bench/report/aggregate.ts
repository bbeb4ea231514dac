import { median } from "../lib/stats.ts";
import type { ServerKind } from "../servers/protocol.ts";
import type { IdleFigures, RateFigures, RateScenario, ServerRun } from "../scenarios/results.ts";

/** Medians over repetitions, per server: idle figures by stream count, rate figures by rate. */
export interface ServerSummary {
  readonly idle: Map<number, IdleFigures>;
  readonly rates: Record<RateScenario, Map<number, RateFigures>>;
}

function medianOf<T extends object>(samples: readonly T[]): T {
  const first = samples[0]!;
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first)) {
    result[key] =
      typeof value === "number"
        ? median(samples.map((sample) => (sample as Record<string, number>)[key]!))
        : // A flag (saturated) holds when it held in most repetitions.
          samples.filter((sample) => (sample as Record<string, unknown>)[key]).length * 2 > samples.length;
  }
  return result as T;
}

function byKey<T extends object>(runs: readonly T[][], keyOf: (figures: T) => number): Map<number, T> {
  const groups = new Map<number, T[]>();
  for (const figures of runs.flat()) groups.set(keyOf(figures), [...(groups.get(keyOf(figures)) ?? []), figures]);
  return new Map([...groups].sort(([a], [b]) => a - b).map(([key, samples]) => [key, medianOf(samples)]));
}

export function summarise(runs: readonly ServerRun[]): Map<ServerKind, ServerSummary> {
  const kinds = [...new Set(runs.map((run) => run.kind))];
  return new Map(
    kinds.map((kind) => {
      const own = runs.filter((run) => run.kind === kind);
      return [
        kind,
        {
          idle: byKey(own.map((run) => run.idle), (figures) => figures.streams),
          rates: {
            broadcast: byKey(own.map((run) => run.rates.broadcast), (figures) => figures.rate),
            "per-user": byKey(own.map((run) => run.rates["per-user"]), (figures) => figures.rate),
          },
        },
      ];
    }),
  );
}
