import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sleep } from "./lib/clock.ts";
import { monotonicUs, printLayers, printSelfTimes, type ProfileWindow } from "./lib/cpu-profile.ts";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { sampleTree } from "./lib/proc-stats.ts";
import { median } from "./lib/stats.ts";
import { LoadFleet, STREAMS_PER_WORKER } from "./load/load-fleet.ts";
import { tokenVerificationCost } from "./scenarios/gateway-extras.ts";
import { contenders, fastifyFloor, startGateway } from "./servers/contenders.ts";
import type { RunningServer } from "./servers/server-process.ts";

/**
 * Scenario A's two open-path figures, gateway against bare Node, without the rest of the
 * benchmark: `node bench/profile-opens.ts [--streams N] [--repeat R] [--fastify-floor] [--cpu-prof] [--node-flags F,G]`. Each
 * repetition starts the gateway, opens N topic streams from loopback, stops it, then does the
 * same with the bare Node server, and prints server CPU per 1,000 opens and PSS per stream
 * (over the server's baseline, as scenario A measures them) with their ratios; then the median
 * ratios, and the CPU of token verification alone; --fastify-floor adds bare Node's server on
 * fastify (servers/fastify-sse-server.ts) to each repetition. With --cpu-prof one gateway run is profiled
 * instead: its self time while the streams opened, by layer and by function.
 */
const { values: flags } = parseArgs({
  options: {
    streams: { type: "string", default: "5000" },
    repeat: { type: "string", default: "3" },
    "cpu-prof": { type: "boolean", default: false },
    /** Also bare Node's server routed by fastify: what fastify alone costs per open. */
    "fastify-floor": { type: "boolean", default: false },
    /** Node flags for the gateway, comma-separated (e.g. a V8 heap setting to try). */
    "node-flags": { type: "string", default: "" },
    top: { type: "string", default: "40" },
  },
});
const streams = Number(flags.streams);
const nodeFlags = flags["node-flags"].split(",").filter((flag) => flag !== "");
/** As scenario A: the server settles before its baseline, and after the opens before memory is read. */
const SETTLE_MS = 500;

interface OpenFigures {
  readonly cpuMsPer1k: number;
  readonly kibPerStream: number;
  /** When the opens ran: what a profile of them is cut to. */
  readonly window: ProfileWindow;
}

async function measureOpens(server: RunningServer, kind: "gateway" | "bare-node", secret: string, fleet: LoadFleet): Promise<OpenFigures> {
  try {
    await sleep(SETTLE_MS);
    const before = sampleTree(server.pid);
    const fromUs = monotonicUs();
    const outcome = await fleet.open(kind, server.port, secret, streams, "topic", "bench");
    const window = { fromUs, toUs: monotonicUs() };
    if (outcome.failed > 0) throw new Error(`${outcome.failed} ${kind} streams failed to open: ${outcome.firstError}`);
    await sleep(SETTLE_MS);
    const after = sampleTree(server.pid);
    const held = (await fleet.report()).open;
    return {
      cpuMsPer1k: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / streams,
      kibPerStream: (after.pssBytes - before.pssBytes) / 1024 / Math.max(1, held),
      window,
    };
  } finally {
    await fleet.closeAll();
    await server.stop();
  }
}

pinSelfToLoad();
const fleet = new LoadFleet(Math.ceil(streams / STREAMS_PER_WORKER));
const byKind = new Map(contenders().map((contender) => [contender.kind, contender]));
const gateway = byKind.get("gateway")!;
const bare = byKind.get("bare-node")!;
try {
  if (flags["cpu-prof"]) {
    const profileDir = mkdtempSync(join(tmpdir(), "gateway-opens-profile-"));
    const figures = await measureOpens(await startGateway(gateway.secret, {}, [...nodeFlags, "--cpu-prof", `--cpu-prof-dir=${profileDir}`]), "gateway", gateway.secret, fleet);
    console.log(`gateway (profiled) ${streams} opens: ${figures.cpuMsPer1k.toFixed(0)} ms CPU per 1,000`);
    printLayers(profileDir, figures.window);
    printSelfTimes(profileDir, Number(flags.top), figures.window);
  } else {
    const cpuRatios: number[] = [];
    const memoryRatios: number[] = [];
    const floorRatios: number[] = [];
    for (let run = 1; run <= Number(flags.repeat); run++) {
      const ours = await measureOpens(await startGateway(gateway.secret, {}, nodeFlags), "gateway", gateway.secret, fleet);
      const theirs = await measureOpens(await bare.start(), "bare-node", bare.secret, fleet);
      cpuRatios.push(ours.cpuMsPer1k / theirs.cpuMsPer1k);
      memoryRatios.push(ours.kibPerStream / theirs.kibPerStream);
      console.log(
        `run ${run}, ${streams} streams: CPU per 1,000 opens ${ours.cpuMsPer1k.toFixed(0)} vs ${theirs.cpuMsPer1k.toFixed(0)} ms (${cpuRatios.at(-1)!.toFixed(2)}x); ` +
          `PSS per stream ${ours.kibPerStream.toFixed(1)} vs ${theirs.kibPerStream.toFixed(1)} KiB (${memoryRatios.at(-1)!.toFixed(2)}x)`,
      );
      if (flags["fastify-floor"]) {
        const floor = await measureOpens(await fastifyFloor().start(), "bare-node", "", fleet);
        floorRatios.push(floor.cpuMsPer1k / theirs.cpuMsPer1k);
        console.log(`  fastify floor: ${floor.cpuMsPer1k.toFixed(0)} ms per 1,000 opens (${floorRatios.at(-1)!.toFixed(2)}x), ${floor.kibPerStream.toFixed(1)} KiB per stream`);
      }
    }
    console.log(`median: CPU per open ${median(cpuRatios).toFixed(2)}x bare Node's, memory per stream ${median(memoryRatios).toFixed(2)}x`);
    if (flags["fastify-floor"]) console.log(`median: the fastify floor's CPU per open ${median(floorRatios).toFixed(2)}x bare Node's`);
    console.log(`token verification alone: ${tokenVerificationCost(gateway.secret).toFixed(1)} ms CPU per 1,000 tokens`);
  }
} finally {
  fleet.stop();
}
