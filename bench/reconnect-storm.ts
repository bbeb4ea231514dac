import { randomBytes } from "node:crypto";
import { cpuSeconds } from "./lib/proc-stats.ts";
import { sleep } from "./lib/clock.ts";
import { outputDir, writeDocSection } from "./report/benchmarks-doc.ts";
import { environmentLines } from "./report/environment.ts";
import { startRedis } from "./servers/redis.ts";
import { signGatewayToken } from "./servers/protocol.ts";
import { startGateway } from "./servers/contenders.ts";
import { freePort, type RunningServer } from "./servers/server-process.ts";
import { follow, type FollowingClient } from "../test/support/following-client.ts";
import { startFront } from "../test/support/front.ts";

/**
 * Reconnect storm: N streams on gateway A of two (sharing Redis) behind a load balancer (the
 * test front), then A is SIGKILLed, as a task crash or a lost zone does it. Every client comes
 * back to B after its `retry:`. Measured: when the reconnects reach B (from the kill), and B's
 * CPU in 250 ms windows, once with RETRY_JITTER_MS=0 (every stream told the same RETRY_MS) and
 * once with the default jitter. `node bench/reconnect-storm.ts [streams]` (default 2000).
 */
const RETRY_MS = 3000;
const JITTERS = [0, 5000] as const;
const WINDOW_MS = 250;
const SETTLE_MS = 1500;

interface StormFigures {
  readonly jitterMs: number;
  readonly reconnected: number;
  /** Ms from the kill at which the given share of reconnects had reached B. */
  readonly arrival: { p10: number; p50: number; p90: number; max: number };
  /** Most reconnects reaching B in one 250 ms window. */
  readonly peakArrivalsPerWindow: number;
  /** B's CPU in its busiest 250 ms window, % of one core. */
  readonly peakCpuPercent: number;
  /** B's CPU seconds from the kill until every client was back. */
  readonly cpuSeconds: number;
  /** This process's CPU (the front and every client) in its busiest window: near 100 %, it limits the arrivals. */
  readonly peakLoadSideCpuPercent: number;
}

async function storm(streams: number, jitterMs: number): Promise<StormFigures> {
  const secret = randomBytes(32).toString("hex");
  const redis = await startRedis(await freePort());
  const env = { REDIS_URL: `redis://127.0.0.1:${redis.port}`, RETRY_MS: String(RETRY_MS), RETRY_JITTER_MS: String(jitterMs) };
  const servers: RunningServer[] = [redis];
  const clients: FollowingClient[] = [];
  try {
    const a = await startGateway(secret, env);
    servers.push(a);
    const b = await startGateway(secret, env);
    servers.push(b);
    const upstream = (name: string, server: RunningServer) => ({ name, url: `http://127.0.0.1:${server.port}` });
    const front = await startFront([upstream("A", a)]);
    try {
      for (let i = 0; i < streams; i++) {
        clients.push(follow(front.url, await signGatewayToken(secret, { topics: ["*"] }, `u${i}`), ["storm"]));
      }
      while (clients.some((client) => client.visits[0]?.status !== 200)) await sleep(100);
      front.setUpstreams([upstream("A", a), upstream("B", b)]);
      await sleep(SETTLE_MS);

      const killedAt = Date.now();
      process.kill(a.pid, "SIGKILL");
      const cpu: number[] = [];
      const loadSide: number[] = [];
      let previous = cpuSeconds(b.pid);
      let previousLoadSide = cpuSeconds(process.pid);
      const deadline = killedAt + RETRY_MS + jitterMs + 15_000;
      while (front.streams.filter((stream) => stream.upstream === "B").length < streams && Date.now() < deadline) {
        await sleep(WINDOW_MS);
        const now = cpuSeconds(b.pid);
        const nowLoadSide = cpuSeconds(process.pid);
        cpu.push(((now - previous) / (WINDOW_MS / 1000)) * 100);
        loadSide.push(((nowLoadSide - previousLoadSide) / (WINDOW_MS / 1000)) * 100);
        previous = now;
        previousLoadSide = nowLoadSide;
      }
      const arrivals = front.streams.filter((stream) => stream.upstream === "B").map((stream) => stream.at - killedAt).sort((x, y) => x - y);
      const windows = new Map<number, number>();
      for (const at of arrivals) windows.set(Math.floor(at / WINDOW_MS), (windows.get(Math.floor(at / WINDOW_MS)) ?? 0) + 1);
      const share = (q: number) => arrivals[Math.min(arrivals.length - 1, Math.floor(q * arrivals.length))] ?? Number.NaN;
      return {
        jitterMs,
        reconnected: arrivals.length,
        arrival: { p10: share(0.1), p50: share(0.5), p90: share(0.9), max: arrivals.at(-1) ?? Number.NaN },
        peakArrivalsPerWindow: Math.max(0, ...windows.values()),
        peakCpuPercent: Math.max(0, ...cpu),
        cpuSeconds: cpu.reduce((sum, percent) => sum + (percent / 100) * (WINDOW_MS / 1000), 0),
        peakLoadSideCpuPercent: Math.max(0, ...loadSide),
      };
    } finally {
      await Promise.all(clients.map((client) => client.stop()));
      await front.close();
    }
  } finally {
    for (const server of servers.reverse()) await server.stop();
  }
}

function section(streams: number, results: readonly StormFigures[]): string {
  const row = (label: string, cell: (figures: StormFigures) => string) => `| ${label} | ${results.map(cell).join(" | ")} |`;
  return [
    `## Reconnect storm: ${streams.toLocaleString("en")} streams, their instance SIGKILLed`,
    "",
    ...environmentLines(),
    "",
    `Two gateways share a Redis behind the test front (a small round-robin load balancer); every stream is on A, then A is`,
    `SIGKILLed and each client (EventSource behaviour: wait the last \`retry:\`, reconnect with Last-Event-ID) comes back to B.`,
    `\`RETRY_MS\`=${RETRY_MS}; times are from the kill; B's CPU is measured in ${WINDOW_MS} ms windows (% of one core).`,
    `Written by \`node bench/reconnect-storm.ts ${streams}\`.`,
    "",
    `| figure | ${results.map((figures) => `RETRY_JITTER_MS=${figures.jitterMs}`).join(" | ")} |`,
    `|---|${results.map(() => "---:").join("|")}|`,
    row("clients back on B", (figures) => `${figures.reconnected} of ${streams}`),
    row("reconnects reach B: 10 % / 50 % / 90 % by (ms)", (figures) => `${figures.arrival.p10} / ${figures.arrival.p50} / ${figures.arrival.p90}`),
    row("last reconnect (ms)", (figures) => String(figures.arrival.max)),
    row(`most reconnects in one ${WINDOW_MS} ms window`, (figures) => String(figures.peakArrivalsPerWindow)),
    row(`B's CPU, busiest ${WINDOW_MS} ms window (%)`, (figures) => figures.peakCpuPercent.toFixed(0)),
    row("B's CPU from the kill until every client was back (s)", (figures) => figures.cpuSeconds.toFixed(2)),
    row(`load side (front and clients, one process), busiest ${WINDOW_MS} ms window (%)`, (figures) => figures.peakLoadSideCpuPercent.toFixed(0)),
    "",
    "Without jitter every client waits the same `retry:`, so all of them come back in one burst; how",
    "sharp the burst is here is bounded by the load side, one process that proxies and parses every",
    "stream (when its CPU nears 100 %, the real burst is sharper than measured). With the jitter the",
    "reconnects spread over `RETRY_JITTER_MS` and the survivor's busiest moment is lower.",
  ].join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const streams = Number(args.find((arg) => !arg.startsWith("--")) ?? 2000);
  if (!Number.isInteger(streams) || streams < 1 || streams > 5000) throw new Error("streams must be a whole number from 1 to 5000 (one client process holds them)");
  const results: StormFigures[] = [];
  for (const jitterMs of JITTERS) {
    const figures = await storm(streams, jitterMs);
    process.stdout.write(`${JSON.stringify(figures)}\n`);
    results.push(figures);
  }
  const path = await writeDocSection(outputDir(args.includes("--write-docs")), "reconnect-storm", section(streams, results));
  process.stdout.write(`written to ${path}\n`);
}

await main();
