import { setTimeout as sleep } from "node:timers/promises";
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { MIN_CUT_MARGIN_MS, type TargetHealthConfig } from "../config/target-health-config.ts";
import { MetadataShapeError, readOwnTarget, type OwnTarget } from "./own-target.ts";

export interface WatcherLog {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface TargetHealthWatcherOptions {
  readonly config: TargetHealthConfig;
  readonly log: WatcherLog;
  /** Called once, when the target turns draining, with the time by which our own drain must be over. */
  readonly onDraining: (drainBy: number) => void;
  /** Called on every failed metadata read or health poll (a counter). */
  readonly onPollFailure?: () => void;
}

/** idle -> locating (reading the task metadata) -> watching (polling) -> draining | stopped. */
export type WatcherState = "idle" | "locating" | "watching" | "draining" | "stopped";

const MAX_BACKOFF_MS = 60_000;
/** Errors after which the next attempt may well succeed; others need a person (IAM, a wrong ARN). */
const TRANSIENT_ERRORS = new Set(["Throttling", "ThrottlingException", "RequestLimitExceeded", "HealthUnavailable", "TimeoutError", "AbortError"]);

/**
 * Polls DescribeTargetHealth for this task's own target and reports when it turns `draining`:
 * on ECS behind a load balancer that is the first sign a task is leaving (SIGTERM comes only
 * after the deregistration delay, when the load balancer has already cut every stream). A failed
 * poll never counts as draining: it is retried with backoff and jitter, logged once per run of
 * failures and counted; SIGTERM stays the fallback whatever happens here.
 */
export class TargetHealthWatcher {
  readonly #options: TargetHealthWatcherOptions;
  readonly #client: ElasticLoadBalancingV2Client;
  readonly #stopping = new AbortController();
  #state: WatcherState = "idle";

  constructor(options: TargetHealthWatcherOptions) {
    this.#options = options;
    // One attempt per call: retries, their pacing and their logging are this class's.
    this.#client = new ElasticLoadBalancingV2Client({
      region: options.config.region,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 3000, requestTimeout: 5000 },
    });
  }

  get state(): WatcherState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== "idle") return;
    this.#state = "locating";
    void this.#run().catch((error: unknown) => {
      if (this.#state === "stopped") return;
      this.#state = "stopped";
      this.#options.log.error({ err: error }, "target health watcher stopped; SIGTERM alone will drain this task");
    });
  }

  stop(): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#stopping.abort();
    this.#client.destroy();
  }

  async #run(): Promise<void> {
    const { config, log } = this.#options;
    const signal = this.#stopping.signal;
    const target = await this.#retrying("reading this task's address from the task metadata endpoint", () =>
      readOwnTarget(config.metadataUri, config.port, signal),
    );
    if (target === undefined) return;
    this.#state = "watching";
    log.info({ target, targetGroupArn: config.targetGroupArn }, "watching this task's target; its drain starts when the target turns draining");
    // The target drains after the last poll that saw it otherwise was sent: the cut comes no
    // sooner than one deregistration delay after that. Measured on the monotonic clock: a
    // wall-clock jump between polls must not shorten or stretch the drain.
    let notDrainingAt = performance.now();
    while (!signal.aborted) {
      const sentAt = performance.now();
      const state = await this.#retrying("asking the load balancer for this target's health", () => this.#targetState(target));
      if (state === undefined) return;
      if (state === "draining") {
        this.#state = "draining";
        this.#client.destroy();
        log.info({ target }, "the load balancer is draining this target: draining the streams before it cuts them");
        this.#options.onDraining(Date.now() + drainDeadline(config.deregistrationDelayMs, notDrainingAt) - performance.now());
        return;
      }
      notDrainingAt = sentAt;
      if (!(await this.#pause(config.pollIntervalMs * (0.9 + Math.random() * 0.2)))) return;
    }
  }

  async #targetState(target: OwnTarget): Promise<string> {
    const answer = await this.#client.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: this.#options.config.targetGroupArn, Targets: [{ Id: target.id, Port: target.port }] }),
      { abortSignal: this.#stopping.signal },
    );
    // Only our own target's state counts: an answer describing another one says nothing of ours.
    const own = answer.TargetHealthDescriptions?.find(({ Target }) => Target?.Id === target.id && (Target.Port ?? target.port) === target.port);
    return own?.TargetHealth?.State ?? "unknown";
  }

  /** Runs attempt until it succeeds; undefined once stopped. One log line per run of failures. */
  async #retrying<T>(what: string, attempt: () => Promise<T>): Promise<T | undefined> {
    const { log, onPollFailure, config } = this.#options;
    for (let failures = 0; !this.#stopping.signal.aborted; failures++) {
      try {
        const result = await attempt();
        if (failures > 0) log.info({ failures }, `${what} works again`);
        return result;
      } catch (error) {
        if (this.#stopping.signal.aborted) return undefined;
        onPollFailure?.();
        if (failures === 0) {
          if (isTransient(error)) log.warn({ err: error }, `${what} failed; retrying with backoff (never read as draining)`);
          else log.error({ err: error }, `${what} failed and needs fixing (IAM, TARGET_GROUP_ARN, networking); retrying meanwhile, SIGTERM stays the fallback`);
        }
        const backoff = Math.min(MAX_BACKOFF_MS, config.pollIntervalMs * 2 ** failures);
        if (!(await this.#pause(backoff * (0.5 + Math.random() * 0.5)))) return undefined;
      }
    }
    return undefined;
  }

  /** False when stopped meanwhile. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.#stopping.signal, ref: false });
      return true;
    } catch {
      return false;
    }
  }
}

/** The time our drain must be over by: the load balancer's earliest cut, less a margin for the last bytes. */
export function drainDeadline(deregistrationDelayMs: number, notDrainingAt: number): number {
  return notDrainingAt + deregistrationDelayMs - Math.max(MIN_CUT_MARGIN_MS, deregistrationDelayMs * 0.1);
}

function isTransient(error: unknown): boolean {
  if (error instanceof MetadataShapeError) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = $metadata?.httpStatusCode;
  return status === undefined || status >= 500 || TRANSIENT_ERRORS.has(name ?? "");
}
