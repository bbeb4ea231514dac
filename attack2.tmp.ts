import { publish, token } from "./test/support/gateway.ts";
import { startGatewayGroup } from "./test/support/redis-cluster.ts";
import { startTestRedis } from "./test/support/redis-server.ts";
import { connectSse } from "./test/support/sse-client.ts";
import { startGateway } from "./test/support/gateway.ts";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redis = await startTestRedis();
const group = await startGatewayGroup(redis.url, 1, {});
const mem = await startGateway({});
for (const [name, url] of [["redis", group.instances[0]!.url], ["memory", mem.url]] as const) {
  const tok = await token({ sub: "fu", topics: ["*"] });
  const first = await publish(url, { users: ["fu"], type: "tick", data: { n: 0 } });
  for (const lei of ["99999999999999-0", "9007199254740991-0", String(Date.now() + 60_000) + "-0", first.body.id.replace(/-\d+$/, "-99999")]) {
    const c = await connectSse(url, { token: tok, lastEventId: lei });
    await sleep(200);
    const r = await publish(url, { users: ["fu"], type: "tick", data: { n: 1 } });
    await sleep(400);
    console.log(name, "LEI", lei, c.status, r.status, r.body.id, JSON.stringify(c.events.map((e) => [e.event, e.id, e.data?.slice(0, 60)])));
    c.close();
  }
}
await mem.stop();
await group.stop();
await redis.stop();
