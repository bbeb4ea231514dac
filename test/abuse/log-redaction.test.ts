import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loggableUrl, loggerOptions } from "../../src/telemetry/logger.ts";
import { auditOutput, auditedLineCount, leakedSignatures, recentLogLines } from "../support/log-audit.ts";
import { TEST_SECRET, publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";

// Finding 5: `?access%5Ftoken=<jwt>` and `?%61ccess_token=<jwt>` authenticate, and the whole
// token was logged in the request line; redaction matched only the literal name.
describe("tokens never reach the logs", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it("redacts the token under every spelling the query parser accepts, and under names it does not know", async () => {
    const subscriber = await token({ sub: "logged", topics: ["news"] });
    // The first four decode to access_token, so they open the stream; the others are not tokens to the gateway.
    const decoded = ["access_token", "access%5Ftoken", "%61ccess_token", "%61%63%63%65%73%73%5f%74%6f%6b%65%6e"];
    const other = ["ACCESS_TOKEN", "token", "authorization", "x"];
    const before = auditedLineCount();
    for (const name of [...decoded, ...other]) {
      const response = await fetch(`${gw.url}/events?topic=news&${name}=${subscriber}&lastEventId=`, { signal: AbortSignal.timeout(2000) });
      assert.equal(response.status, decoded.includes(name) ? 200 : 401, name);
      await response.body?.cancel();
    }
    const spellings = [...decoded, ...other];
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(auditedLineCount() - before >= spellings.length, "the gateway's request lines went through the audit");
    const lines = recentLogLines().filter((line) => line.includes("/events?"));
    assert.ok(lines.length >= spellings.length, `request lines were logged: ${lines.length}`);
    for (const line of lines) {
      assert.deepEqual(leakedSignatures(line), [], line);
      assert.doesNotMatch(line, /eyJ/, line);
    }
    assert.ok(lines.some((line) => line.includes("topic=news")), "harmless parameters stay readable");
  });

  it("the audit itself finds a token in a line, written plainly or percent-encoded", async () => {
    const minted = await token({ sub: "canary" });
    assert.equal(leakedSignatures(`{"url":"/events?access_token=${minted}"}`).length, 1);
    const encoded = minted.replace(/[A-Za-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
    assert.equal(leakedSignatures(`{"url":"/events?t=${encoded}"}`).length, 1);
    assert.deepEqual(leakedSignatures(`{"url":"/events?t=${minted.slice(0, -3)}"}`), [], "a truncated signature is not a token");
  });

  it("shows only the path and harmless parameters (unit)", () => {
    assert.equal(loggableUrl("/events?topic=a&topic=b"), "/events?topic=a&topic=b");
    assert.equal(loggableUrl("/events?access%5Ftoken=secret&topic=a"), "/events?[redacted]&topic=a");
    assert.equal(loggableUrl("/events?secret"), "/events?[redacted]");
    assert.equal(loggableUrl("/healthz"), "/healthz");
    assert.doesNotMatch(loggableUrl("/x?%74opic=1&topic%00=secret&to%70ic=ok"), /secret/);
    // Found by the fuzz: a lost "&" puts the token into a logged value, a lost "?" into the path.
    const signature = "FG-0pV99GuzY6UYsidqDVC8xG9bhnfdIg0hrORTvEZo";
    assert.doesNotMatch(loggableUrl(`/events?topic=a.baccess_token%3DeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0.${signature}`), new RegExp(signature));
    assert.doesNotMatch(loggableUrl(`/eventsaccess_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmdXp6In0.${signature}`), new RegExp(signature));
    assert.equal(loggableUrl("/events?topic=orders.eu-west.created"), "/events?topic=orders.eu-west.created");
  });
});

// At the default LOG_LEVEL=info, two lines per publish cost 15-35 % of its CPU: requests that
// succeed or fail with a 4xx write nothing; a 5xx still writes its line (no token in it either).
describe("at LOG_LEVEL=info, the level users get", () => {
  const lines: string[] = [];
  let url: string;
  let stop: () => Promise<void>;
  before(async () => {
    const sink = {
      write(line: string) {
        auditOutput(line);
        lines.push(line);
      },
    };
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "200" }, () => randomBytes(32));
    const gateway = await createGateway(config, { logger: loggerOptions(config.logLevel, sink) });
    url = await gateway.listen();
    stop = () => gateway.shutdown();
  });
  after(() => stop());

  it("writes no line for publishes, stream opens or refused requests", async () => {
    assert.equal(loadConfig({ JWT_SECRET: TEST_SECRET }, () => randomBytes(32)).logLevel, "info", "info is the default");
    const subscriber = await token({ sub: "quiet", topics: ["news"] });
    const stream = await connectSse(url, { token: subscriber });
    const viaQuery = await fetch(`${url}/events?topic=news&access_token=${subscriber}`);
    await viaQuery.body?.cancel();
    assert.equal((await publish(url, { users: ["quiet"], type: "t", data: 1 })).status, 202);
    assert.equal((await publish(url, { users: ["quiet"], type: "t" }, subscriber)).status, 403);
    assert.equal((await fetch(`${url}/events?access_token=${subscriber}x`)).status, 401);
    await stream.waitFor(1);
    stream.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const requestLines = lines.filter((line) => /"req":|"res":|request completed|incoming request/.test(line));
    assert.deepEqual(requestLines, []);
    for (const line of lines) assert.deepEqual(leakedSignatures(line), [], line);
  });
});
