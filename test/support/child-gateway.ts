import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { after } from "node:test";
import { fileURLToPath } from "node:url";
import { lineAuditor } from "./log-audit.ts";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));

export interface ChildGateway {
  readonly child: ChildProcess;
  /** Everything the process printed so far. */
  readonly output: () => string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Resolves once the output matches. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `node src/main.ts` as a real process, with the given environment only (plus PATH). */
export function spawnGateway(env: Record<string, string>): ChildGateway {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const listeners = new Set<() => void>();
  const audit = { stdout: lineAuditor(), stderr: lineAuditor() };
  const collect = (stream: keyof typeof audit) => (chunk: Buffer) => {
    output += chunk.toString();
    audit[stream](chunk.toString());
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", collect("stdout"));
  child.stderr!.on("data", collect("stderr"));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    exited,
    kill: (signal = "SIGTERM") => void child.kill(signal),
    waitForOutput(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} in output within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/**
 * Starts child gateways on any free loopback port (`env` adds to that), each SIGKILLed after
 * the last test of the suite that calls this.
 */
export function gatewaysOnAnyPort(): (env: Record<string, string>) => ChildGateway {
  const started: ChildGateway[] = [];
  after(() => {
    for (const gateway of started) gateway.kill("SIGKILL");
  });
  return (env) => {
    const gateway = spawnGateway({ PORT: "0", HOST: "127.0.0.1", ...env });
    started.push(gateway);
    return gateway;
  };
}
