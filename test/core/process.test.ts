import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { gatewaysOnAnyPort } from "../support/child-gateway.ts";
import { connectSse } from "../support/sse-client.ts";
import { TEST_SECRET, publish, token } from "../support/gateway.ts";

const run = promisify(execFile);
const LISTENING = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/;

describe("the gateway process", () => {
  const start = gatewaysOnAnyPort();

  it("prints dev tokens and a curl line that work exactly as printed", async () => {
    const gateway = start({});
    const [, url] = await gateway.waitForOutput(LISTENING);
    const [, curlStream] = await gateway.waitForOutput(/Watch a stream:\n\s+(curl -N .+)\n/);
    const [, curlPublish] = await gateway.waitForOutput(/Publish an event:\n\s+(curl -X POST .+)\n/);
    assert.ok(curlStream!.includes(url!));
    const stream = run("sh", ["-c", `${curlStream} --max-time 3`]).catch((error: { stdout: string }) => error);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const published = await run("sh", ["-c", `${curlPublish} -s`]);
    assert.match(published.stdout, /"id":"\d+-\d+"/);
    const { stdout } = (await stream) as { stdout: string };
    assert.match(stdout, /event: greeting\ndata: \{"hello":"world"\}/);
    gateway.kill("SIGTERM");
    assert.equal(await gateway.exited, 0);
  });

  it("drains on SIGTERM: not ready, streams told to come back later, exit 0", async () => {
    const gateway = start({ JWT_SECRET: TEST_SECRET, SHUTDOWN_GRACE_MS: "1500", LOG_LEVEL: "info" });
    const [, url] = await gateway.waitForOutput(LISTENING);
    const streams = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => connectSse(url!, { token: await token({ sub: `user-${i}` }) })),
    );
    await publish(url!, { users: ["user-0"], type: "before" });
    await streams[0]!.waitFor(1);
    const startedAt = Date.now();
    gateway.kill("SIGTERM");
    await gateway.waitForOutput(/draining/);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /shutting down/);
    const refused = await connectSse(url!, { token: await token({ sub: "late" }) });
    assert.equal(refused.status, 503);
    await Promise.all(streams.map((stream) => stream.ended));
    const retries = streams.map((stream) => {
      const draining = stream.events.find((event) => event.event === "gateway.draining");
      assert.ok(draining, "every stream is told why it ends");
      return Number(/retry: (\d+)\n\n$/.exec(stream.raw())![1]);
    });
    assert.ok(new Set(retries).size > 10, `retry hints are jittered: ${retries}`);
    // RETRY_MS + random × the longer of SHUTDOWN_GRACE_MS (1500) and RETRY_JITTER_MS (5000), as the README says.
    assert.ok(Math.min(...retries) >= 3000 && Math.max(...retries) <= 3000 + 5000, `retries stay within the window: ${retries}`);
    assert.ok(retries.some((retry) => retry > 3000 + 1500), `a short drain still spreads the retries over RETRY_JITTER_MS: ${retries}`);
    assert.equal(await gateway.exited, 0);
    assert.ok(Date.now() - startedAt < 1500 + 2000, "exits within the grace period");
  });

  it("refuses to start in production without JWT configuration, saying what to set", async () => {
    const gateway = start({ NODE_ENV: "production" });
    assert.equal(await gateway.exited, 2);
    assert.match(gateway.output(), /configuration error: NODE_ENV=production needs JWT_SECRET or JWKS_URL/);
  });

  it("stops with a message naming a wrong variable", async () => {
    const gateway = start({ MAX_CONNECTIONS: "lots" });
    assert.equal(await gateway.exited, 2);
    assert.match(gateway.output(), /MAX_CONNECTIONS must be a whole number/);
  });

  it("never writes tokens to its logs", async () => {
    const gateway = start({ JWT_SECRET: TEST_SECRET, LOG_LEVEL: "trace" });
    const [, url] = await gateway.waitForOutput(LISTENING);
    const secretToken = await token({ sub: "zed" });
    const viaQuery = await fetch(`${url}/events?access_token=${secretToken}&topic=nope`);
    await viaQuery.body?.cancel();
    const viaHeader = await connectSse(url!, { token: secretToken });
    viaHeader.close();
    await fetch(`${url}/events`, { headers: { cookie: `access_token=${secretToken}` } }).then((r) => r.body?.cancel());
    await gateway.waitForOutput(/"url":"\/events\?\[redacted\]&topic=nope"/);
    assert.ok(!gateway.output().includes(secretToken.split(".")[2]!), "no token signature in the logs");
    gateway.kill("SIGTERM");
    await gateway.exited;
  });
});
