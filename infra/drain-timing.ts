import { Duration } from "aws-cdk-lib";

/** Fargate refuses a container stopTimeout above two minutes. */
const MAX_STOP_TIMEOUT = Duration.seconds(120);
/** Time left to the process after its own drain ends: close Redis, flush logs, exit. */
const EXIT_MARGIN = Duration.seconds(15);

/**
 * How long a task takes to leave, derived from the gateway's own drain so the three stay in order.
 * ECS first deregisters the task from the target group and waits for the target to drain; then it
 * sends SIGTERM, and SIGKILL after the container stopTimeout. The gateway needs its whole
 * SHUTDOWN_GRACE_MS before either of those two clocks runs out.
 */
export interface DrainTiming {
  /** SHUTDOWN_GRACE_MS: the gateway closes its streams in batches over this time after SIGTERM. */
  readonly shutdownGrace: Duration;
  /** Container stopTimeout: SIGTERM to SIGKILL. */
  readonly stopTimeout: Duration;
  /** Target group deregistration delay: how long the load balancer keeps a leaving task's streams. */
  readonly deregistrationDelay: Duration;
}

export function drainTimingFor(shutdownGrace: Duration): DrainTiming {
  const afterDrain = Duration.seconds(shutdownGrace.toSeconds() + EXIT_MARGIN.toSeconds());
  if (afterDrain.toSeconds() > MAX_STOP_TIMEOUT.toSeconds()) {
    throw new Error(
      `shutdownGrace of ${shutdownGrace.toSeconds()} s leaves no room before the ${MAX_STOP_TIMEOUT.toSeconds()} s stopTimeout limit of Fargate`,
    );
  }
  return { shutdownGrace, stopTimeout: afterDrain, deregistrationDelay: afterDrain };
}
