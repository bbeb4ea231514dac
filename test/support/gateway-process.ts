import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { TEST_SECRET } from "./gateway.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const START_TIMEOUT_MS = 10_000;

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Log lines (pino JSON) written so far. */
  readonly logs: () => string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** SIGKILL if still running (test cleanup). */
  kill(): void;
}

/** `node src/main.ts` as its own process on a free loopback port, so that real signals can be sent to it. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, JWT_SECRET: TEST_SECRET, HOST: "127.0.0.1", LOG_LEVEL: "info", ...env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const complete = (partial + chunk).split("\n");
    partial = complete.pop() ?? "";
    lines.push(...complete);
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answers(url))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the gateway did not start (exit ${exitCode}):\n${lines.join("\n")}\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    child,
    logs: () => [...lines],
    exited,
    kill: () => void (exitCode === undefined && child.kill("SIGKILL")),
  };
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(new URL("/healthz", url))).ok;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
