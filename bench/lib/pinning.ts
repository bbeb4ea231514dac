import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";

/**
 * CPU pinning with taskset: the server under test gets CPU 0 to itself, the load side (workers
 * and publisher) the other CPUs, so that neither steals the other's time slices. Without
 * taskset or with a single CPU, commands run unpinned.
 */
const hasTaskset = spawnSync("taskset", ["-V"], { stdio: "ignore" }).status === 0;
const cpus = availableParallelism();

export type Role = "server" | "load";

export function pinningAvailable(): boolean {
  return hasTaskset && cpus >= 2;
}

export function cpuListFor(role: Role): string {
  if (role === "server") return "0";
  return cpus === 2 ? "1" : `1-${cpus - 1}`;
}

/** The command and arguments that run `command` pinned to the CPUs of `role`. */
export function pinned(role: Role, command: string, args: readonly string[]): [string, string[]] {
  if (!pinningAvailable()) return [command, [...args]];
  return ["taskset", ["-c", cpuListFor(role), command, ...args]];
}

/** Pins an already running process (the harness itself, which publishes) to the load CPUs. */
export function pinSelfToLoad(): void {
  if (pinningAvailable()) spawnSync("taskset", ["-a", "-p", "-c", cpuListFor("load"), String(process.pid)], { stdio: "ignore" });
}
