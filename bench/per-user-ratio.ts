import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pinSelfToLoad } from "./lib/pinning.ts";
import { processTree } from "./lib/proc-stats.ts";
import { BatchPublisher } from "./load/batch-publisher.ts";
import { LoadFleet } from "./load/load-fleet.ts";
import { Publisher, type EventSource } from "./load/publisher.ts";
import { measureRate } from "./scenarios/rate-step.ts";
import { contenders, fastifyFloor, type Contender } from "./servers/contenders.ts";

/**
 * `node bench/per-user-ratio.ts [--streams N] [--rates 2000,5000] [--seconds S] [--rounds K]`: a
 * short, same-run measurement of scenario C's goals. For each round, each server in turn (the
 * gateway with POST /publish, the gateway with POST /publish/batch, bare Node, nchan when
 * installed) gets N user streams, a warm-up (500 events/s for 3 s, not counted: the garbage of
 * the opens is collected there, as in the bench, whose first rate is 500) and then R events/s to
 * random users for S seconds per rate (with --fastify-floor also servers/fastify-sse-server.ts,
 * bare Node's floor routed by fastify); prints
 * the server CPU per delivered event (user and system apart) and the ratios, then their medians
 * over the rounds.
 */
const { values: flags } = parseArgs({
  options: {
    streams: { type: "string", default: "10000" },
    rates: { type: "string", default: "2000,5000" },
    seconds: { type: "string", default: "5" },
    rounds: { type: "string", default: "3" },
    "fastify-floor": { type: "boolean", default: false },
  },
});
const streams = Number(flags.streams);
const rates = flags.rates.split(",").map(Number);
const TICKS_PER_SECOND = 100;
const WARM_UP = { rate: 500, ms: 3000 };

/** User and system CPU seconds of a process tree, from /proc. */
function cpuSplit(rootPid: number): { user: number; system: number } {
  let user = 0;
  let system = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      user += Number(fields[11]) / TICKS_PER_SECOND;
      system += Number(fields[12]) / TICKS_PER_SECOND;
    } catch {
      // gone meanwhile
    }
  }
  return { user, system };
}

interface Variant {
  readonly name: string;
  readonly contender: Contender;
  readonly publisher: (port: number, token: string) => EventSource;
}

const [gateway, nchan, bare] = contenders();
const variants: Variant[] = [
  { name: "gateway /publish", contender: gateway!, publisher: (port, token) => new Publisher("gateway", port, token) },
  { name: "gateway /publish/batch", contender: gateway!, publisher: (port, token) => new BatchPublisher(port, token) },
  { name: "bare Node", contender: bare!, publisher: (port) => new Publisher("bare-node", port, "") },
  ...(nchan!.unavailable ? [] : [{ name: "nchan", contender: nchan!, publisher: (port: number) => new Publisher("nchan", port, "") }]),
  ...(flags["fastify-floor"] ? [{ name: "fastify floor", contender: fastifyFloor(), publisher: (port: number) => new Publisher("bare-node", port, "") }] : []),
];

/** µs of server CPU per delivered event, by variant and rate, one entry per round. */
const results = new Map<string, number[]>();
const record = (key: string, value: number) => results.set(key, [...(results.get(key) ?? []), value]);

pinSelfToLoad();
const fleet = new LoadFleet(2);
try {
  for (let round = 1; round <= Number(flags.rounds); round++) {
    for (const variant of variants) {
      const server = await variant.contender.start();
      const publisher = variant.publisher(server.port, await variant.contender.publisherToken());
      try {
        await fleet.open(variant.contender.kind, server.port, variant.contender.secret, streams, "user");
        const targetOf = () => ({ user: `u${Math.floor(Math.random() * streams)}` });
        await measureRate({ fleet, publisher, serverPids: [server.pid], rate: WARM_UP.rate, durationMs: WARM_UP.ms, fanOut: 1, targetOf });
        for (const rate of rates) {
          const before = cpuSplit(server.pid);
          const step = await measureRate({
            fleet,
            publisher,
            serverPids: [server.pid],
            rate,
            durationMs: Number(flags.seconds) * 1000,
            fanOut: 1,
            targetOf,
          });
          const after = cpuSplit(server.pid);
          const delivered = step.deliveredShare * rate * Number(flags.seconds);
          const userUs = ((after.user - before.user) / delivered) * 1e6;
          const systemUs = ((after.system - before.system) / delivered) * 1e6;
          record(`${variant.name} @${rate}`, userUs + systemUs);
          console.log(
            `round ${round} ${variant.name.padEnd(24)} ${String(rate).padStart(5)} ev/s: ${(userUs + systemUs).toFixed(0).padStart(4)} µs/event ` +
              `(user ${userUs.toFixed(0)}, system ${systemUs.toFixed(0)}), delivered ${(step.deliveredShare * 100).toFixed(1)} %, p99 ${step.p99Ms.toFixed(1)} ms`,
          );
        }
      } finally {
        await publisher.close();
        await fleet.closeAll();
        await server.stop();
      }
    }
  }
} finally {
  fleet.stop();
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log("\nmedians (µs of server CPU per delivered event) and ratios:");
for (const rate of rates) {
  const of = (name: string) => median(results.get(`${name} @${rate}`) ?? [Number.NaN]);
  const [single, batch, floor, peer, onFastify] = ["gateway /publish", "gateway /publish/batch", "bare Node", "nchan", "fastify floor"].map(of);
  console.log(
    `${rate} ev/s: /publish ${single!.toFixed(0)}, batch ${batch!.toFixed(0)}, bare Node ${floor!.toFixed(0)}, nchan ${peer!.toFixed(0)}` +
      `${flags["fastify-floor"] ? `, fastify floor ${onFastify!.toFixed(0)} (${(onFastify! / floor!).toFixed(2)}x bare)` : ""}; ` +
      `/publish / bare ${(single! / floor!).toFixed(2)}x, batch / bare ${(batch! / floor!).toFixed(2)}x, batch / nchan ${(batch! / peer!).toFixed(2)}x`,
  );
}
