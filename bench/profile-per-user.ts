import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { printSelfTimes } from "./lib/cpu-profile.ts";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { LoadFleet } from "./load/load-fleet.ts";
import { Publisher } from "./load/publisher.ts";
import { measureRate } from "./scenarios/rate-step.ts";
import { gatewayPublisherToken, startGateway } from "./servers/contenders.ts";

/**
 * `node bench/profile-per-user.ts [--streams N] [--rate R] [--seconds S] [--log-level L] [--phase open|per-user]`:
 * starts the gateway under `node --cpu-prof`, opens N user streams, sends R events/s to random
 * users for S seconds, stops the gateway and prints the functions with the most self time
 * (the phase chosen is the only one the profile holds beyond the start).
 */
const { values: flags } = parseArgs({
  options: {
    streams: { type: "string", default: "10000" },
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "6" },
    "log-level": { type: "string", default: "warn" },
    top: { type: "string", default: "30" },
  },
});
const streams = Number(flags.streams);
const profileDir = mkdtempSync(join(tmpdir(), "gateway-profile-"));

pinSelfToLoad();
const secret = randomBytes(32).toString("hex");
const fleet = new LoadFleet(2);
const server = await startGateway(secret, { LOG_LEVEL: flags["log-level"] }, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]);
const publisher = new Publisher("gateway", server.port, await gatewayPublisherToken(secret));
try {
  await fleet.open("gateway", server.port, secret, streams, "user");
  const step = await measureRate({
    fleet,
    publisher,
    serverPids: [server.pid],
    rate: Number(flags.rate),
    durationMs: Number(flags.seconds) * 1000,
    fanOut: 1,
    targetOf: () => ({ user: `u${Math.floor(Math.random() * streams)}` }),
  });
  console.log(`per user ${flags.rate}/s: server CPU ${step.serverCpuPercent.toFixed(0)} %, p99 ${step.p99Ms.toFixed(1)} ms, delivered ${(step.deliveredShare * 100).toFixed(1)} %`);
} finally {
  publisher.close();
  await fleet.closeAll();
  fleet.stop();
  await server.stop();
}
printSelfTimes(profileDir, Number(flags.top));
