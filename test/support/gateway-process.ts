import { spawnGateway, type ChildGateway } from "./child-gateway.ts";
import { freePort } from "./free-port.ts";
import { TEST_SECRET } from "./gateway.ts";
import { eventually, readyz } from "./wait.ts";

const READY_TIMEOUT_MS = 15_000;

export interface GatewayProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Resolves with the exit code (null when ended by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it printed, for failure messages. */
  output(): string;
  signal(signal: NodeJS.Signals): void;
  /** Ends it for good if it still runs (SIGKILL); for cleanup. */
  stop(): Promise<void>;
}

/**
 * One named instance of a cluster: `node src/main.ts` as a child process on a free loopback port
 * with the test JWT secret (`env` adds to and overrides the defaults). Resolves once /readyz is 200.
 */
export async function startGatewayProcess(name: string, env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawnGateway({ HOST: "127.0.0.1", PORT: String(port), JWT_SECRET: TEST_SECRET, LOG_LEVEL: "warn", ...env });
  const instance: GatewayProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    pid: child.child.pid!,
    exited: child.exited.then((code) => ({ code, signal: child.child.signalCode })),
    output: child.output,
    signal: (signal) => child.kill(signal),
    async stop() {
      if (child.child.exitCode === null && child.child.signalCode === null) child.kill("SIGKILL");
      await child.exited;
    },
  };
  try {
    await untilReady(instance, child);
  } catch (error) {
    await instance.stop();
    throw error;
  }
  return instance;
}

async function untilReady(instance: GatewayProcess, child: ChildGateway): Promise<void> {
  await eventually(
    async () => {
      if (child.child.exitCode !== null) throw new Error(`gateway ${instance.name} exited with ${child.child.exitCode}:\n${child.output()}`);
      return (await readyz(instance.url).catch(() => undefined))?.status === 200;
    },
    READY_TIMEOUT_MS,
    `gateway ${instance.name} to be ready`,
  );
}
