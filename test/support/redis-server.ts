import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.ts";

/**
 * A Redis for tests, found in this order: REDIS_URL if set; a `redis-server` binary on PATH,
 * spawned on a free loopback port; testcontainers' Redis module when a Docker engine is
 * reachable; otherwise an error that says how to get one.
 */
export interface TestRedis {
  readonly url: string;
  /** Whether kill() and start() work: only for a redis-server this harness spawned. */
  readonly controllable: boolean;
  /** SIGKILL: the abrupt loss of Redis, with no goodbye to clients. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill), or for the first time (see `startStopped`). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestRedisOptions {
  /** Keep data across kill() with an fsync'ed append-only file, like a replicated Redis keeps it. */
  readonly persistent?: boolean;
  /** Pick the port but do not start yet: for "Redis absent at start". */
  readonly startStopped?: boolean;
}

const START_TIMEOUT_MS = 5000;

export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  if (process.env.REDIS_URL) return external(process.env.REDIS_URL);
  if (hasRedisServerBinary()) return spawnRedisServer(options);
  if (dockerReachable()) return fromTestcontainers();
  throw new Error(
    "These tests need Redis: install redis-server (Debian: apt-get install -y redis-server), " +
      "or set REDIS_URL=redis://host:port to one you run, or run a Docker engine with @testcontainers/redis installed.",
  );
}

/** Only the ones whose port this harness chose can be killed and restarted. */
export function canControlRedis(): boolean {
  return !process.env.REDIS_URL && hasRedisServerBinary();
}

/**
 * For tests that kill and restart Redis: why they must be skipped here, or false. They need a
 * redis-server this harness spawns itself; in CI a missing one is a failure, not a skip.
 */
export function killableRedisSkipReason(): string | false {
  if (process.env.REDIS_URL !== undefined) {
    return "REDIS_URL is set: these tests need a redis-server they can kill (unset REDIS_URL, install redis-server)";
  }
  if (!canControlRedis() && !process.env.CI) return "redis-server is not installed (Debian: apt-get install -y redis-server)";
  return false;
}

function external(url: string): TestRedis {
  const unsupported = async () => {
    throw new Error("a Redis given by REDIS_URL cannot be killed or restarted by the tests");
  };
  return { url, controllable: false, kill: unsupported, start: unsupported, stop: async () => undefined };
}

function hasRedisServerBinary(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

function dockerReachable(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync("/var/run/docker.sock");
}

async function spawnRedisServer(options: TestRedisOptions): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "sse-gateway-redis-"));
  const persistence = options.persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--dir", dir, "--daemonize", "no"];
  let child: ChildProcess | undefined;
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    controllable: true,
    async kill() {
      if (!child) return;
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      child = undefined;
    },
    async start() {
      if (child) return;
      child = await launch(args);
    },
    async stop() {
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (!options.startStopped) await redis.start();
  return redis;
}

function launch(args: readonly string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => fail(new Error(`redis-server did not start in ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout!.resume();
        resolve(child);
      }
    });
    child.stderr!.resume();
    child.once("exit", (code) => fail(new Error(`redis-server exited with ${code}:\n${output}`)));
  });
}

async function fromTestcontainers(): Promise<TestRedis> {
  // Not a dependency of the project: only used on machines with Docker that install it.
  const moduleName = "@testcontainers/redis";
  let module: { RedisContainer: new (image: string) => { start(): Promise<{ getConnectionUrl(): string; stop(): Promise<unknown> }> } };
  try {
    module = await import(moduleName);
  } catch {
    throw new Error("A Docker engine is reachable but @testcontainers/redis is not installed: npm install --no-save @testcontainers/redis");
  }
  const container = await new module.RedisContainer("redis:7-alpine").start();
  const unsupported = async () => {
    throw new Error("kill/restart is only supported for a spawned redis-server");
  };
  return {
    url: container.getConnectionUrl(),
    controllable: false,
    kill: unsupported,
    start: unsupported,
    stop: async () => void (await container.stop()),
  };
}
