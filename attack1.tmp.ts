import { Redis } from "ioredis";
import { comparePositions, parseEventId } from "./src/events/event-id.ts";
import { publish, token } from "./test/support/gateway.ts";
import { startGatewayGroup } from "./test/support/redis-cluster.ts";
import { startTestRedis } from "./test/support/redis-server.ts";
import { connectSse } from "./test/support/sse-client.ts";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redis = await startTestRedis({ persistent: true } as any);
const group = await startGatewayGroup(redis.url, 2, { REDIS_COMMAND_TIMEOUT_MS: "500" });
const admin = new Redis(redis.url);
const [g0, g1] = group.instances.map((i) => i.url);
const tok = await token({ sub: "eve", topics: ["*"] });
const p = async (n: number, url = g0) => publish(url!, { users: ["eve"], topics: ["feed"], type: "tick", data: { n }, id: `t-${n}` });
const first = await p(0);
console.log("first", first.status, first.body);
// Last-Event-ID kinds
for (const [name, lei] of [["garbage", "zzz"], ["future", "99999999999999-0"], ["old", "1-0"], ["empty", ""], ["huge", "9".repeat(300)], ["neg", "-1-5"], ["leading0", "0001-0"], ["current", first.body.id]] as const) {
  const c = await connectSse(g1!, { token: tok, topics: ["feed"], lastEventId: lei });
  await sleep(300);
  console.log("LEI", name, c.status, JSON.stringify(c.events.map((e) => [e.event, e.id, e.data?.slice(0, 40)])));
  c.close();
}
// streams on both instances
const streams = await Promise.all([g0, g1, g0, g1].map((u) => connectSse(u!, { token: tok, topics: ["feed"], lastEventId: first.body.id })));
let n = 1;
const accepted: number[] = [];
async function pubRetry(k: number) {
  for (let a = 0; a < 100; a++) {
    const r = await p(k, a % 2 ? g1 : g0);
    if (r.status === 202) { accepted.push(k); return; }
    if (r.status !== 503) { console.log("unexpected", k, r.status, r.body); return; }
    await sleep(100);
  }
  console.log("never accepted", k);
}
async function phase(name: string, fault: () => Promise<void>) {
  const from = n;
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 10; i++) jobs.push(pubRetry(n++));
  await fault();
  for (let i = 0; i < 10; i++) { jobs.push(pubRetry(n++)); await sleep(30); }
  await Promise.all(jobs);
  console.log("phase", name, "published", from, "..", n - 1);
}
await phase("client kill pubsub", async () => { await admin.call("CLIENT", "KILL", "TYPE", "pubsub"); });
await phase("client pause", async () => { await admin.call("CLIENT", "PAUSE", "1500", "WRITE"); });
await phase("debug sleep", async () => { void admin.call("DEBUG", "SLEEP", "1.5").catch(() => {}); await sleep(50); });
await admin.config("SET", "client-output-buffer-limit", "pubsub 1024 512 1");
await phase("tiny pubsub buffer", async () => {
  await Promise.all(Array.from({ length: 5 }, (_, i) => publish(g0!, { users: ["eve"], type: "big", data: { x: "y".repeat(5000), i } }).then(() => {})));
});
await admin.config("SET", "client-output-buffer-limit", "pubsub 33554432 8388608 60");
await phase("kill -9 restart", async () => { await (redis as any).kill?.(); await sleep(300); await (redis as any).start?.(); });
await sleep(6000);
for (const [i, s] of streams.entries()) {
  const data = s.events.filter((e) => e.event === "tick").map((e) => JSON.parse(e.data).n);
  const ctl = s.events.filter((e) => e.event?.startsWith("gateway."));
  const dup = data.filter((x, j) => data.indexOf(x) !== j);
  const sorted = [...accepted].sort((a, b) => a - b);
  const missing = sorted.filter((x) => !data.includes(x));
  console.log("stream", i, "got", data.length, "accepted", accepted.length, "dups", dup, "missing", missing, "ctl", ctl.map((e) => e.event), "inorder", s.events.filter((e) => e.id).every((e, j, a) => j === 0 || comparePositions(parseEventId(a[j-1]!.id!)!, parseEventId(e.id!)!) < 0), "ended", (s as any).ended === undefined ? "?" : "");
}
console.log(Object.keys(redis));
for (const s of streams) s.close();
admin.disconnect();
await group.stop();
await redis.stop();
