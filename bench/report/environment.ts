import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { pinningAvailable, cpuListFor } from "../lib/pinning.ts";

/** The machine, software versions and date a benchmark ran with, as Markdown bullet lines. */
function commandOutput(command: string, args: readonly string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) return undefined;
  return `${result.stdout}${result.stderr}`.trim() || undefined;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match?.[1]) return match[1];
  } catch {
    // Not Linux: os.cpus() still names the model.
  }
  return cpus()[0]?.model ?? "unknown";
}

export function environmentLines(): string[] {
  const nginx = commandOutput("nginx", ["-v"]) ?? commandOutput("/usr/sbin/nginx", ["-v"]);
  const nchan = commandOutput("dpkg-query", ["-W", "-f", "${Version}", "libnginx-mod-nchan"]);
  const commit = commandOutput("git", ["rev-parse", "--short", "HEAD"]);
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
    `- Machine: ${cpuModel()}, ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}; load average at start ${loadavg().map((value) => value.toFixed(2)).join(" ")}`,
    pinningAvailable()
      ? `- Pinning: server on CPU ${cpuListFor("server")}, load workers and publisher on CPU ${cpuListFor("load")} (taskset)`
      : "- Pinning: none (taskset missing or a single CPU)",
    `- Node.js ${process.version}; ${nginx?.replace(/^nginx version: /, "") ?? "nginx not found"}; nchan ${nchan ?? "(package version unknown)"}; gateway at commit ${commit ?? "unknown"}`,
  ];
}
