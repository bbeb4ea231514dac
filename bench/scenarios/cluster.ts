import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Scenario D: two gateway instances sharing a Redis bus, fed by an SQS emulator, measured from
 * the SQS message to the SSE client. It needs the Redis bus and the SQS ingest of the gateway;
 * until both exist in src/, the scenario reports itself as not run.
 */
const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

function hasModule(dir: string, prefix: string): boolean {
  const path = `${SRC}${dir}`;
  return existsSync(path) && readdirSync(path).some((name) => name.startsWith(prefix));
}

export interface ClusterOutcome {
  /** Markdown for docs/benchmarks.md. */
  readonly markdown: string;
}

export async function runClusterScenario(): Promise<ClusterOutcome> {
  const missing = [
    hasModule("bus", "redis") ? undefined : "the Redis bus (src/bus/redis*)",
    hasModule("ingest", "sqs") ? undefined : "the SQS ingest (src/ingest/sqs*)",
  ].filter((part) => part !== undefined);
  if (missing.length > 0) {
    return { markdown: `Not run: the gateway does not have ${missing.join(" and ")} yet.` };
  }
  return { markdown: "Not run: the Redis + SQS path exists in src/, but this harness does not measure it yet." };
}
