import { spawn, type ChildProcess } from "node:child_process";
import { connect, createServer } from "node:net";
import { monotonicMs, sleep } from "../lib/clock.ts";
import { pinned } from "../lib/pinning.ts";

/** A server under test, running as a child process pinned to the server CPU. */
export interface RunningServer {
  readonly port: number;
  /** The root of the server's process tree (measured as a whole). */
  readonly pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
/** Servers still running: killed if the harness itself exits early (an error, Ctrl-C). */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
const STOP_TIMEOUT_MS = 5_000;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** How a server shows it is ready: an HTTP path answering 200, or (`"tcp"`) accepting connections. */
export type Readiness = `/${string}` | "tcp";

function isReady(port: number, readiness: Readiness): Promise<boolean> {
  if (readiness !== "tcp") {
    return fetch(`http://127.0.0.1:${port}${readiness}`).then(
      (response) => response.ok,
      () => false,
    );
  }
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitReady(port: number, readiness: Readiness, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = monotonicMs() + READY_TIMEOUT_MS;
  while (monotonicMs() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output()}`);
    if (await isReady(port, readiness)) return;
    await sleep(100);
  }
  throw new Error(`server not ready on port ${port} (${readiness}) within ${READY_TIMEOUT_MS} ms: ${output()}`);
}

/**
 * Starts `command` pinned to the server CPU with exactly `env` (nothing inherited, so no stray
 * REDIS_URL or the like changes what is measured) and waits until it is ready.
 */
export async function startServerProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, port: number, readiness: Readiness): Promise<RunningServer> {
  const [pinnedCommand, pinnedArgs] = pinned("server", command, args);
  const child = spawn(pinnedCommand, pinnedArgs, { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => running.delete(child));
  await waitReady(port, readiness, child, () => output).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const stopped = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
      if (!stopped) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}
