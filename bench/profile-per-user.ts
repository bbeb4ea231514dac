import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { monotonicUs, printSelfTimes } from "./lib/cpu-profile.ts";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { BatchPublisher } from "./load/batch-publisher.ts";
import { LoadFleet } from "./load/load-fleet.ts";
import { Publisher } from "./load/publisher.ts";
import { SqsPublisher } from "./load/sqs-publisher.ts";
import { measureRate } from "./scenarios/rate-step.ts";
import { gatewayPublisherToken, startGateway } from "./servers/contenders.ts";

/**
 * `node bench/profile-per-user.ts [--streams N] [--rate R] [--seconds S] [--log-level L] [--batch | --sqs]`:
 * starts the gateway under `node --cpu-prof`, opens N user streams, sends R events/s to random
 * users for S seconds (one POST /publish each; with --batch the events due together in one
 * POST /publish/batch; with --sqs as EventBridge events through the SQS emulator, which the
 * gateway consumes), stops the gateway and prints the functions with the most self time while
 * publishing (the samples of the start and of the opens are left out).
 */
const { values: flags } = parseArgs({
  options: {
    streams: { type: "string", default: "10000" },
    rate: { type: "string", default: "2000" },
    seconds: { type: "string", default: "6" },
    "log-level": { type: "string", default: "warn" },
    top: { type: "string", default: "30" },
    batch: { type: "boolean", default: false },
    sqs: { type: "boolean", default: false },
  },
});
const streams = Number(flags.streams);
const profileDir = mkdtempSync(join(tmpdir(), "gateway-profile-"));

pinSelfToLoad();
const secret = randomBytes(32).toString("hex");
const fleet = new LoadFleet(2);
const sqs = flags.sqs ? await SqsPublisher.start() : undefined;
const server = await startGateway(secret, { LOG_LEVEL: flags["log-level"], ...sqs?.gatewayEnv() }, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]);
const publisherToken = await gatewayPublisherToken(secret);
const publisher = sqs ?? (flags.batch ? new BatchPublisher(server.port, publisherToken) : new Publisher("gateway", server.port, publisherToken));
const window = { fromUs: 0, toUs: 0 };
try {
  await fleet.open("gateway", server.port, secret, streams, "user");
  window.fromUs = monotonicUs();
  const step = await measureRate({
    fleet,
    publisher,
    serverPids: [server.pid],
    rate: Number(flags.rate),
    durationMs: Number(flags.seconds) * 1000,
    fanOut: 1,
    targetOf: () => ({ user: `u${Math.floor(Math.random() * streams)}` }),
  });
  window.toUs = monotonicUs();
  console.log(`per user ${flags.rate}/s${flags.batch ? " (batch)" : flags.sqs ? " (SQS)" : ""}: server CPU ${step.serverCpuPercent.toFixed(0)} %, p99 ${step.p99Ms.toFixed(1)} ms, delivered ${(step.deliveredShare * 100).toFixed(1)} %`);
} finally {
  await publisher.close();
  await fleet.closeAll();
  fleet.stop();
  await server.stop();
}
printSelfTimes(profileDir, Number(flags.top), window);
