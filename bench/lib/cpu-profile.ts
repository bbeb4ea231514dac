import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** A stretch of the profiled process's life, in µs of the monotonic clock (process.hrtime). */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

/** Now on the clock a profile's sample times are on (µs, CLOCK_MONOTONIC like V8's). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function (ms) of the one `.cpuprofile` that `node --cpu-prof` wrote to `dir`,
 * counting only the samples inside `window` when one is given.
 */
export function selfTimes(dir: string, window?: ProfileWindow): Map<string, number> {
  const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no profile written to ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    at += profile.timeDeltas[index] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    const frame = byId.get(id)!.callFrame;
    const source = frame.url.replace(/^.*\/(node_modules\/|src\/)/, "$1");
    const key = `${frame.functionName || "(anonymous)"} ${source}:${frame.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000);
  });
  return totals;
}

/** The `top` functions by self time, as shares of the time not idle. */
export function printSelfTimes(dir: string, top: number, window?: ProfileWindow): void {
  const totals = selfTimes(dir, window);
  totals.delete("(idle) :0");
  const busy = [...totals.values()].reduce((sum, ms) => sum + ms, 0);
  console.log(`profile in ${dir}: ${busy.toFixed(0)} ms busy`);
  for (const [name, ms] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
  }
}

/** The layer a function of `selfTimes` belongs to: a folder of src/, a package, a part of Node, or V8. */
function layerOf(key: string): string {
  const source = key.slice(key.lastIndexOf(" ") + 1);
  const own = /^src\/([^/]+)\//.exec(source);
  if (own) return `src/${own[1]}`;
  const module = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
  if (module) return module[1]!;
  if (source.startsWith("node:")) return /http|net|stream|crypto|timers|events/.exec(source)?.[0]?.replace(/^/, "node ") ?? "node, other";
  if (key.startsWith("(garbage collector)")) return "garbage collection";
  return "V8 and native (socket writes, builtins)";
}

/** Self time by layer, as shares of the time not idle. */
export function printLayers(dir: string, window?: ProfileWindow): void {
  const layers = new Map<string, number>();
  for (const [key, ms] of selfTimes(dir, window)) {
    if (key.startsWith("(idle)")) continue;
    layers.set(layerOf(key), (layers.get(layerOf(key)) ?? 0) + ms);
  }
  const busy = [...layers.values()].reduce((sum, ms) => sum + ms, 0);
  for (const [layer, ms] of [...layers].sort((a, b) => b[1] - a[1])) console.log(`${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${layer}`);
}
