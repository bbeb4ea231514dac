import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/env-reader.ts";
import { STREAM_RESERVE, connectionBudget } from "../../src/http/connection-budget.ts";
import { freePort } from "../support/free-port.ts";
import { TEST_SECRET, token } from "../support/gateway.ts";
import { lineAuditor } from "../support/log-audit.ts";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { eventually } from "../support/wait.ts";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

/** `node src/main.ts` under a lower open-file limit (prlimit, util-linux; Node raises its soft limit to the hard one at start, so both are set), on a free loopback port. */
async function gatewayWithFileLimit(limit: number, env: Record<string, string>) {
  const port = await freePort();
  const child = spawn("prlimit", [`--nofile=${limit}:${limit}`, process.execPath, MAIN], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), JWT_SECRET: TEST_SECRET, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const audit = lineAuditor();
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      audit(chunk.toString());
    });
  }
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { url: `http://127.0.0.1:${port}`, child, exited, output: () => output };
}

// Finding 2: with MAX_CONNECTIONS above what the open-file limit allows, streams past it were
// closed with no HTTP answer, and /healthz and /metrics were unreachable while saturated.
describe("the connection budget", () => {
  it("clamps MAX_CONNECTIONS to the open-file limit with a reserve, naming both numbers (unit)", () => {
    assert.deepEqual(connectionBudget(10_000, undefined, 20), { streams: 10_000, sockets: undefined });
    assert.deepEqual(connectionBudget(10_000, 65_536, 20), { streams: 10_000, sockets: 65_536 - 20 - 32 });
    const clamped = connectionBudget(10_000, 1024, 24);
    assert.equal(clamped.streams, 1024 - 24 - STREAM_RESERVE);
    assert.match(clamped.warning!, /MAX_CONNECTIONS is 10000, but the open-file limit is 1024/);
    assert.throws(() => connectionBudget(10, 100, 24), (error: unknown) => error instanceof ConfigError && /100/.test(error.message));
  });

  it("past the effective cap, streams get 503 with Retry-After, and /healthz and /metrics answer", { timeout: 60_000 }, async () => {
    const gateway = await gatewayWithFileLimit(400, { MAX_CONNECTIONS: "10000", MAX_CONNECTIONS_PER_USER: "1000", MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "100000" });
    const streams: SseConnection[] = [];
    try {
      await eventually(async () => (await fetch(`${gateway.url}/healthz`).catch(() => undefined))?.status === 200, 15_000, "the gateway to listen");
      const warning = /MAX_CONNECTIONS is 10000, but the open-file limit is 400 \((\d+) in use at start, 128 kept in reserve\): this instance admits at most (\d+) streams/.exec(gateway.output());
      assert.ok(warning, gateway.output());
      const cap = Number(warning[2]);
      const subscriber = await token({ sub: "many" });
      const statuses: number[] = [];
      for (let i = 0; i < cap + 20; i++) {
        const stream = await connectSse(gateway.url, { token: subscriber });
        statuses.push(stream.status);
        if (stream.status === 200) streams.push(stream);
        else {
          assert.equal(stream.status, 503);
          assert.ok(Number(stream.headers["retry-after"]) >= 1);
          assert.equal(JSON.parse(await stream.body).error, "unavailable");
          stream.close();
        }
      }
      assert.equal(statuses.filter((status) => status === 200).length, cap);
      assert.equal(statuses.filter((status) => status === 503).length, 20);
      for (const path of ["/healthz", "/metrics", "/readyz"]) {
        const response = await fetch(`${gateway.url}${path}`);
        assert.equal(response.status, 200, path);
        await response.body?.cancel();
      }
    } finally {
      for (const stream of streams) stream.close();
      gateway.child.kill("SIGKILL");
      await gateway.exited;
    }
  });

  it("refuses to start when the limit leaves no room for streams, naming both numbers", async () => {
    const gateway = await gatewayWithFileLimit(100, {});
    assert.equal(await gateway.exited, 2);
    assert.match(gateway.output(), /cannot start: the open-file limit \(100, \d+ in use at start\) leaves no room for streams/);
  });
});
