// The compose stack's front, run for real: nginx with docker/nginx/default.conf (only the
// compose host names swapped for loopback ports) in front of two gateways and the demo token
// server. Checks that clients are spread over both replicas, that a stream passes through
// unbuffered, and that the demo page's /dev/token reaches the token server.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { publish, startGateway, TEST_SECRET, type RunningGateway } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";
import { freeLoopbackPort, REPO_ROOT, requireTools } from "./container-tools.ts";

const nginx = requireTools(["nginx"], false);
const NODE = process.execPath;

async function waitForAnswer(url: string, process: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`${url}: the process exited with ${process.exitCode}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** default.conf with the compose service names pointed at loopback ports. */
function localFrontConfig(ports: { front: number; gateway1: number; gateway2: number; tokens: number }): string {
  const config = readFileSync(join(REPO_ROOT, "docker", "nginx", "default.conf"), "utf8");
  const replaced = config
    .replace("listen 80;", `listen 127.0.0.1:${ports.front};`)
    .replace("server gateway-1:8080;", `server 127.0.0.1:${ports.gateway1};`)
    .replace("server gateway-2:8080;", `server 127.0.0.1:${ports.gateway2};`)
    .replace("server demo-tokens:8090;", `server 127.0.0.1:${ports.tokens};`);
  assert.doesNotMatch(replaced, /gateway-\d:|demo-tokens:|listen 80;/, "every compose host name was replaced");
  return replaced;
}

test("front: nginx spreads clients over both gateways, streams unbuffered, serves demo tokens", { skip: nginx.skip, timeout: 60_000 }, async (t) => {
  if (nginx.missing) assert.fail(nginx.missing);
  const directory = mkdtempSync(join(tmpdir(), "sse-gateway-front-"));
  const children: ChildProcess[] = [];
  const gateways: RunningGateway[] = [];
  t.after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    rmSync(directory, { recursive: true, force: true });
  });

  gateways.push(await startGateway(), await startGateway());
  const [gateway1, gateway2] = gateways.map((gateway) => Number(new URL(gateway.url).port));
  const ports = { front: await freeLoopbackPort(), gateway1: gateway1!, gateway2: gateway2!, tokens: await freeLoopbackPort() };

  const tokens = spawn(NODE, [join(REPO_ROOT, "docker", "demo-tokens", "server.ts")], {
    env: { ...process.env, JWT_SECRET: TEST_SECRET, HOST: "127.0.0.1", PORT: String(ports.tokens) },
    stdio: "inherit",
  });
  children.push(tokens);
  writeFileSync(join(directory, "default.conf"), localFrontConfig(ports));
  writeFileSync(
    join(directory, "nginx.conf"),
    [
      "daemon off;",
      "worker_processes 1;",
      `pid ${directory}/nginx.pid;`,
      `error_log ${directory}/error.log warn;`,
      "events { worker_connections 256; }",
      "http {",
      "  access_log off;",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `  ${kind}_temp_path ${directory}/${kind};`),
      `  include ${directory}/default.conf;`,
      "}",
    ].join("\n"),
  );
  const front = spawn("nginx", ["-p", directory, "-c", join(directory, "nginx.conf")], { stdio: "inherit" });
  children.push(front);
  const frontUrl = `http://127.0.0.1:${ports.front}`;
  await waitForAnswer(`${frontUrl}/healthz`, front, 10_000);
  await waitForAnswer(`http://127.0.0.1:${ports.tokens}/healthz`, tokens, 10_000);

  const upstreams = new Set<string>();
  for (let request = 0; request < 4; request++) {
    const response = await fetch(`${frontUrl}/healthz`);
    assert.equal(response.status, 200);
    upstreams.add(response.headers.get("x-upstream") ?? "");
  }
  assert.deepEqual([...upstreams].sort(), [`127.0.0.1:${ports.gateway1}`, `127.0.0.1:${ports.gateway2}`].sort());

  const tokenResponse = await fetch(`${frontUrl}/dev/token?role=subscriber&sub=alice`);
  assert.equal(tokenResponse.status, 200);
  const { token } = (await tokenResponse.json()) as { token: string };
  const stream = await connectSse(frontUrl, { token, tokenInQuery: true });
  t.after(() => stream.close());
  assert.equal(stream.status, 200);
  // The replica that holds the stream is the one an event for alice must be published to
  // (without Redis the two gateways share nothing).
  const holder = gateways.find((gateway) => new URL(gateway.url).host === stream.headers["x-upstream"]);
  assert.ok(holder, `x-upstream ${stream.headers["x-upstream"]} names one of the gateways`);
  const published = await publish(holder.url, { users: ["alice"], type: "through.front", data: { n: 1 } });
  assert.equal(published.status, 202);
  const sentAt = Date.now();
  const [event] = await stream.waitFor(1, (received) => received.event === "through.front", 5000);
  assert.equal(event!.id, published.body.id);
  assert.ok(Date.now() - sentAt < 1000, "the event was not held in a proxy buffer");
});
