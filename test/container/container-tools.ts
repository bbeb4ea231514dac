// Shared by the container tests: the tools they need, and running a command with a time bound.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CONTAINER_TEST_DIR = fileURLToPath(new URL("./", import.meta.url));

export function onPath(tool: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * What a container test needs to run here, or why it cannot. Without the tools it is
 * skipped on a developer's machine and fails in CI (CI=true), where .ci/apt-packages.txt
 * must have installed them.
 */
export function requireTools(tools: readonly string[], needsRoot: boolean): { skip: string | false; missing: string | undefined } {
  const absent = tools.filter((tool) => !onPath(tool));
  const reasons = absent.length > 0 ? [`missing ${absent.join(", ")} (see .ci/apt-packages.txt)`] : [];
  if (needsRoot && process.getuid?.() !== 0) reasons.push("needs root (podman with its own storage)");
  const missing = reasons.length > 0 ? reasons.join("; ") : undefined;
  return { skip: missing !== undefined && !process.env.CI ? missing : false, missing };
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion within timeoutMs; rejects with its output on failure. */
export function run(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: options.timeoutMs, killSignal: "SIGKILL", maxBuffer: 64 * 1024 * 1024, env: options.env, cwd: options.cwd },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(" ")} failed: ${error.message}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** A loopback port that was free a moment ago (for servers that cannot be told to take port 0). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address !== "object") throw new Error("no port");
  return address.port;
}
