import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { TEST_SECRET } from "./gateway.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const READY_TIMEOUT_MS = 15_000;
/** What a test may need to see of a child's output when it fails. */
const OUTPUT_LIMIT = 20_000;

export interface GatewayProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tail of stdout and stderr, for failure messages. */
  output(): string;
  signal(signal: NodeJS.Signals): void;
  /** Ends it for good if it still runs (SIGKILL); used in cleanup. */
  stop(): Promise<void>;
}

/**
 * Starts `node src/main.ts` as a child process on a free loopback port, as a deployment runs it,
 * with the test JWT secret; `env` adds to and overrides the defaults. Resolves once /readyz is 200.
 */
export async function startGatewayProcess(name: string, env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const gateway: GatewayProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    exited,
    output: () => output,
    signal: (signal) => void child.kill(signal),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
  try {
    await untilReady(gateway, child);
  } catch (error) {
    await gateway.stop();
    throw error;
  }
  return gateway;
}

async function untilReady(gateway: GatewayProcess, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway ${gateway.name} exited with ${child.exitCode}:\n${gateway.output()}`);
    const ready = await fetch(`${gateway.url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`gateway ${gateway.name} not ready in ${READY_TIMEOUT_MS} ms:\n${gateway.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
