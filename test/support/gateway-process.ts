import { spawn, type ChildProcess } from "node:child_process";
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

/** `node src/main.ts` as its own process, so that real signals can be sent to it. */
export function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the gateway did not start in ${START_TIMEOUT_MS} ms:\n${lines.join("\n")}\n${stderr}`));
    }, START_TIMEOUT_MS);
    let pending = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const complete = pending.split("\n");
      pending = complete.pop() ?? "";
      for (const line of complete) {
        lines.push(line);
        const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (!listening) continue;
        clearTimeout(timer);
        resolve({
          url: listening[1]!,
          child,
          logs: () => [...lines],
          exited,
          kill: () => void (child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")),
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with ${code} before listening:\n${lines.join("\n")}\n${stderr}`));
    });
  });
}
