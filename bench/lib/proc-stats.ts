import { readFileSync, readdirSync } from "node:fs";

/**
 * CPU time and memory of a process and its descendants, read from /proc (Linux). nginx runs a
 * master and a worker, so a server is always measured as a process tree.
 */
const CLOCK_TICKS_PER_SECOND = 100;

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

export function processTree(rootPid: number): number[] {
  const childrenOf = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    const siblings = childrenOf.get(parent) ?? [];
    siblings.push(pid);
    childrenOf.set(parent, siblings);
  }
  const tree: number[] = [];
  const pending = [rootPid];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    tree.push(pid);
    pending.push(...(childrenOf.get(pid) ?? []));
  }
  return tree;
}

/** User + system CPU seconds a process has used so far (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Proportional set size in bytes: shared pages are split between the processes sharing them. */
export function pssBytes(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "latin1");
    const match = /^Pss:\s+(\d+) kB/m.exec(rollup);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Seconds the process's main thread spent runnable but waiting for a CPU: on a shared machine,
 * time other programs took from the server.
 */
export function runQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, "latin1").split(" ")[1]) / 1e9;
  } catch {
    return 0;
  }
}

export interface TreeSample {
  readonly cpuSeconds: number;
  readonly pssBytes: number;
  readonly runQueueWaitSeconds: number;
}

export function sampleTree(rootPid: number): TreeSample {
  let cpu = 0;
  let pss = 0;
  let wait = 0;
  for (const pid of processTree(rootPid)) {
    cpu += cpuSeconds(pid);
    pss += pssBytes(pid);
    wait += runQueueWaitSeconds(pid);
  }
  return { cpuSeconds: cpu, pssBytes: pss, runQueueWaitSeconds: wait };
}
