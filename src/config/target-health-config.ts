import { ConfigError, type EnvReader } from "./env-reader.ts";

/**
 * Watching this task's own target in its load balancer's target group (ECS behind an ALB): ECS
 * deregisters a leaving task and lets the load balancer keep its streams for the deregistration
 * delay before it cuts them, and only then sends SIGTERM. Seeing the target turn `draining` is
 * the only way to end those streams ourselves, spread out, before the cut.
 */
export interface TargetHealthConfig {
  /** TARGET_GROUP_ARN: the target group this task is registered in. */
  readonly targetGroupArn: string;
  /** The target group's region, read from the ARN. */
  readonly region: string;
  /** DEREGISTRATION_DELAY_MS: how long the load balancer keeps a draining target's connections. */
  readonly deregistrationDelayMs: number;
  /** TARGET_HEALTH_POLL_MS: how often the target's state is asked for. */
  readonly pollIntervalMs: number;
  /** ECS_CONTAINER_METADATA_URI_V4, set by ECS: where this container learns its own address. */
  readonly metadataUri: string;
  /** The port the target is registered on: the gateway's PORT. */
  readonly port: number;
}

const TARGET_GROUP_ARN = /^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:targetgroup\/[\w-]{1,32}\/[0-9a-f]{16}$/;
/** Time kept between the end of our own drain and the load balancer's cut: the last bytes travel. */
export const MIN_CUT_MARGIN_MS = 1000;

/** Undefined without TARGET_GROUP_ARN (local runs, tests, other platforms): SIGTERM alone drains then. */
export function readTargetHealth(read: EnvReader, port: number): TargetHealthConfig | undefined {
  const targetGroupArn = read.string("TARGET_GROUP_ARN");
  // Read before knowing whether the watcher is on: a wrong value stops the start either way.
  const deregistrationDelayMs = read.integer("DEREGISTRATION_DELAY_MS", 0, 0, 3_600_000);
  const pollIntervalMs = read.integer("TARGET_HEALTH_POLL_MS", 5000, 100, 60_000);
  if (targetGroupArn === undefined) return undefined;
  const region = TARGET_GROUP_ARN.exec(targetGroupArn)?.[1];
  if (region === undefined) {
    throw new ConfigError(`TARGET_GROUP_ARN must be a target group ARN (arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>), got "${targetGroupArn}"`);
  }
  const metadataUri = read.url("ECS_CONTAINER_METADATA_URI_V4", ["http:", "https:"]);
  if (metadataUri === undefined) {
    throw new ConfigError("TARGET_GROUP_ARN needs ECS_CONTAINER_METADATA_URI_V4 (ECS sets it in every container on Fargate and on EC2 with agent 1.39+) to find this task's own target");
  }
  if (read.string("DEREGISTRATION_DELAY_MS") === undefined) {
    throw new ConfigError("TARGET_GROUP_ARN needs DEREGISTRATION_DELAY_MS, the target group's deregistration delay, to pace the drain before the load balancer cuts the streams");
  }
  if (deregistrationDelayMs < pollIntervalMs + 2 * MIN_CUT_MARGIN_MS) {
    throw new ConfigError(
      `DEREGISTRATION_DELAY_MS (${deregistrationDelayMs}) must exceed TARGET_HEALTH_POLL_MS (${pollIntervalMs}) by at least ${2 * MIN_CUT_MARGIN_MS} ms: the drain runs in what is left after noticing`,
    );
  }
  return { targetGroupArn, region, deregistrationDelayMs, pollIntervalMs, metadataUri: metadataUri.href.replace(/\/$/, ""), port };
}
