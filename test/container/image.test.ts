// Builds the real Dockerfile with podman and runs the image: an event published over HTTP
// reaches an SSE stream, and SIGTERM drains the gateway to a clean exit 0.
//
// No image registry is reachable here, so the base image node:24-bookworm-slim is a local
// stand-in made by make-base-image.sh (Debian bookworm + Node 24 from npm); the Dockerfile
// itself is built unchanged.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { publish, TEST_SECRET, token } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";
import { CONTAINER_TEST_DIR, freeLoopbackPort, REPO_ROOT, requireTools, run } from "./container-tools.ts";

const PODMAN = join(CONTAINER_TEST_DIR, "podman.sh");
const IMAGE = "localhost/sse-gateway:image-test";
const CONTAINER = `sse-gateway-image-test-${process.pid}`;
const SHUTDOWN_GRACE_MS = 3000;
const tools = requireTools(["podman", "runc", "debootstrap", "tar"], true);

function podman(args: readonly string[], timeoutMs = 60_000) {
  return run(PODMAN, args, { timeoutMs });
}

async function waitForHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "no answer yet";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(new URL("/healthz", url), { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
      lastError = `status ${response.status}`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = await podman(["logs", CONTAINER]).catch((error: Error) => ({ stdout: "", stderr: error.message }));
  throw new Error(`gateway in the container never became healthy (${lastError})\n${logs.stdout}\n${logs.stderr}`);
}

async function within<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function timed<T>(label: string, timings: string[], step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await step();
  timings.push(`${label} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

test("the Dockerfile builds, serves SSE as non-root and drains on SIGTERM to exit 0", { skip: tools.skip, timeout: 15 * 60_000 }, async (t) => {
  if (tools.missing) assert.fail(`container test cannot run in CI: ${tools.missing}`);
  const timings: string[] = [];
  t.after(async () => {
    await podman(["rm", "--force", "--ignore", CONTAINER]).catch(() => undefined);
    t.diagnostic(`timings: ${timings.join(", ")}`);
  });

  await timed("base image", timings, () => run(join(CONTAINER_TEST_DIR, "make-base-image.sh"), [], { timeoutMs: 8 * 60_000 }));
  await timed("build", timings, () => podman(["build", "--format", "docker", "--network", "host", "--tag", IMAGE, REPO_ROOT], 8 * 60_000));
  await podman(["image", "prune", "--force"]);

  const inspected = JSON.parse((await podman(["image", "inspect", IMAGE])).stdout)[0];
  const config = inspected.Config;
  assert.equal(config.User, "node", "the gateway runs as the unprivileged user node");
  assert.deepEqual(config.Entrypoint, ["/usr/bin/tini", "--"], "tini is PID 1 and forwards signals");
  assert.deepEqual(config.Cmd, ["node", "src/main.ts"]);
  for (const variable of ["NODE_ENV=production", "HOST=0.0.0.0", "PORT=8080"]) assert.ok(config.Env.includes(variable), `image sets ${variable}`);
  assert.deepEqual(inspected.Healthcheck?.Test, ["CMD", "node", "scripts/healthcheck.ts"]);
  t.diagnostic(`image size ${(inspected.Size / 1e6).toFixed(0)} MB (on the local stand-in base image)`);

  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  // Host networking: HOST=127.0.0.1 keeps the gateway on loopback instead of the image's 0.0.0.0.
  await podman([
    "run", "--detach", "--name", CONTAINER, "--network", "host", "--health-interval", "disable",
    "--env", `JWT_SECRET=${TEST_SECRET}`, "--env", "HOST=127.0.0.1", "--env", `PORT=${port}`,
    "--env", `SHUTDOWN_GRACE_MS=${SHUTDOWN_GRACE_MS}`, "--env", "LOG_LEVEL=warn",
    IMAGE,
  ]);
  await timed("start", timings, () => waitForHealthy(url, 30_000));
  await podman(["healthcheck", "run", CONTAINER]);

  const stream = await connectSse(url, { token: await token({ sub: "u1" }), tokenInQuery: true });
  assert.equal(stream.status, 200);
  const marker = randomUUID();
  const published = await publish(url, { users: ["u1"], type: "container.check", data: { marker } });
  assert.equal(published.status, 202, JSON.stringify(published.body));
  const [received] = await stream.waitFor(1, (event) => event.event === "container.check", 10_000);
  assert.deepEqual(JSON.parse(received!.data), { marker });
  assert.equal(received!.id, published.body.id);

  const stopStarted = Date.now();
  await podman(["kill", "--signal", "SIGTERM", CONTAINER]);
  await within(stream.ended, SHUTDOWN_GRACE_MS + 5000, "the stream was still open after the grace period");
  const exitCode = (await podman(["wait", CONTAINER], SHUTDOWN_GRACE_MS + 15_000)).stdout.trim();
  timings.push(`drain ${((Date.now() - stopStarted) / 1000).toFixed(1)} s`);
  assert.ok(
    stream.events.some((event) => event.event === "gateway.draining"),
    `the stream was told to go elsewhere before it closed: ${JSON.stringify(stream.events)}`,
  );
  assert.equal(exitCode, "0", "the gateway exits 0 after draining");
});
