import { Duration } from "aws-cdk-lib";
import { SettingsError } from "./settings-error.ts";

/** Fargate refuses a container stopTimeout above two minutes. */
const MAX_STOP_TIMEOUT = Duration.seconds(120);
/** Time left to the process after its own drain ends: close Redis, flush logs, exit. */
const EXIT_MARGIN = Duration.seconds(15);
/** How often each task asks for its target's health: 10 tasks make 2 calls a second. */
const TARGET_HEALTH_POLL = Duration.seconds(5);

/**
 * How a task leaves, in the order ECS runs it. ECS first deregisters the task from the target
 * group: its target turns `draining`, the load balancer sends it no new requests and keeps its
 * streams for the deregistration delay, then cuts what is left. Only then does ECS send SIGTERM,
 * and SIGKILL after the container stopTimeout. The gateway polls its own target's health and
 * drains its streams within the delay, from the moment it sees `draining` (at most one poll late)
 * to a margin before the cut, then exits; SIGTERM and SHUTDOWN_GRACE_MS are the fallback for a
 * task that could not watch its target (and for every platform without one).
 */
export interface DrainTiming {
  /** SHUTDOWN_GRACE_MS: the gateway closes its streams in batches over this time after SIGTERM. */
  readonly shutdownGrace: Duration;
  /** Container stopTimeout: SIGTERM to SIGKILL. */
  readonly stopTimeout: Duration;
  /** Target group deregistration delay (DEREGISTRATION_DELAY_MS): the gateway's own drain fits in it. */
  readonly deregistrationDelay: Duration;
  /** TARGET_HEALTH_POLL_MS. */
  readonly targetHealthPoll: Duration;
}

export function drainTimingFor(shutdownGrace: Duration): DrainTiming {
  const afterDrain = Duration.seconds(shutdownGrace.toSeconds() + EXIT_MARGIN.toSeconds());
  if (afterDrain.toSeconds() > MAX_STOP_TIMEOUT.toSeconds()) {
    throw new SettingsError(
      `context shutdownGraceMs of ${shutdownGrace.toMilliseconds()} (${shutdownGrace.toSeconds()} s) leaves no room before the ${MAX_STOP_TIMEOUT.toSeconds()} s stopTimeout limit of Fargate`,
    );
  }
  // The delay holds a poll, the gateway's margin before the cut, and a drain about as long as SHUTDOWN_GRACE_MS.
  return { shutdownGrace, stopTimeout: afterDrain, deregistrationDelay: afterDrain, targetHealthPoll: TARGET_HEALTH_POLL };
}
