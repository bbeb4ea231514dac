import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AuthorizerObserver } from "../auth/authorizers/authorizer.ts";
import type { PublishResult } from "../bus/event-bus.ts";
import type { SubscriptionRegistryObserver } from "../bus/redis/redis-subscription-registry.ts";
import type { GatewayEvent } from "../events/event.ts";
import type { EventSource } from "../events/publisher.ts";
import type { Hub } from "../hub/hub.ts";
import type { IngestObservers } from "../ingest/create-sources.ts";
import type { RedisInboxObserver } from "../ingest/redis-inbox.ts";
import type { SqsFailureReason, SqsObserver } from "../ingest/sqs-source.ts";

/** The Prometheus registry served at /metrics, and the few hooks that feed it. */
export class GatewayMetrics implements IngestObservers {
  readonly registry = new Registry();
  readonly sqs: SqsObserver;
  readonly authorizer: AuthorizerObserver;
  readonly redisInbox: RedisInboxObserver;
  readonly mercureSubscriptions: SubscriptionRegistryObserver;
  readonly #published: Counter<"source">;
  readonly #duplicates: Counter<"source">;
  readonly #authFailures: Counter<"reason">;
  readonly #deliveryLag: Histogram;
  readonly #targetHealthFailures: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#published = new Counter({
      name: "sse_gateway_events_published_total",
      help: "Events accepted for delivery, by where they entered",
      labelNames: ["source"],
      registers,
    });
    this.#duplicates = new Counter({
      name: "sse_gateway_events_duplicate_total",
      help: "Publishes dropped because their id was seen within the idempotency window",
      labelNames: ["source"],
      registers,
    });
    this.#authFailures = new Counter({
      name: "sse_gateway_auth_failures_total",
      help: "Requests refused by authentication or authorisation, by reason code",
      labelNames: ["reason"],
      registers,
    });
    this.#deliveryLag = new Histogram({
      name: "sse_gateway_delivery_lag_seconds",
      help: "Time from an event's acceptance to its fan-out on this instance",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#targetHealthFailures = new Counter({
      name: "sse_gateway_target_health_poll_failures_total",
      help: "Failed task metadata reads and DescribeTargetHealth calls of the target health watcher (retried; never read as draining)",
      registers,
    });
    this.sqs = sqsMetrics(registers);
    this.authorizer = authorizerMetrics(registers);
    const inboxDeadLetters = new Counter<"reason">({
      name: "sse_gateway_inbox_dead_letters_total",
      help: "Redis inbox entries moved to the dead-letter list: invalid bodies, or events the bus refused for good",
      labelNames: ["reason"],
      registers,
    });
    this.redisInbox = { deadLettered: (reason) => inboxDeadLetters.inc({ reason }) };
    const registryFailures = new Counter({
      name: "sse_gateway_mercure_registry_write_failures_total",
      help: "Failed writes of this instance's Mercure subscriptions to Redis (retried with backoff; the streams are not affected)",
      registers,
    });
    this.mercureSubscriptions = { writeFailed: () => registryFailures.inc() };
  }

  /** Gauges and counters read from the hub when scraped, so the hot path only bumps plain numbers. */
  observeHub(hub: Hub): void {
    const registers = [this.registry];
    new Gauge({
      name: "sse_gateway_open_streams",
      help: "Open SSE streams on this instance",
      registers,
      collect() {
        this.set(hub.size);
      },
    });
    new Counter({
      name: "sse_gateway_events_delivered_total",
      help: "Event frames written to streams",
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.delivered);
      },
    });
    new Counter({
      name: "sse_gateway_slow_client_disconnects_total",
      help: "Streams dropped because their client stopped reading",
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.slowClientDisconnects);
      },
    });
    new Counter({
      name: "sse_gateway_stream_bus_failures_total",
      help: "Bus calls of streams (watch, head, history page) that failed and were retried by their stream",
      registers,
      collect() {
        this.reset();
        this.inc(hub.stats.busFailures);
      },
    });
  }

  published(source: EventSource, result: PublishResult): void {
    (result.duplicate ? this.#duplicates : this.#published).inc({ source });
  }

  authFailure(reason: string): void {
    this.#authFailures.inc({ reason });
  }

  targetHealthPollFailed(): void {
    this.#targetHealthFailures.inc();
  }

  fannedOut(event: GatewayEvent): void {
    this.#deliveryLag.observe(Math.max(0, Date.now() - event.ms) / 1000);
  }
}

/** The SQS consumer's metrics: messages received, delivered, failed by reason, and their age. */
function sqsMetrics(registers: Registry[]): SqsObserver {
  const received = new Counter({ name: "sse_gateway_sqs_messages_received_total", help: "SQS messages received", registers });
  const delivered = new Counter({
    name: "sse_gateway_sqs_messages_delivered_total",
    help: "SQS messages whose event the bus accepted, then deleted from the queue",
    registers,
  });
  const failed = new Counter<"reason">({
    name: "sse_gateway_sqs_messages_failed_total",
    help: "SQS message handling failures by reason; poison reasons leave the message for the dead-letter queue",
    labelNames: ["reason"],
    registers,
  });
  const receiveErrors = new Counter({ name: "sse_gateway_sqs_receive_errors_total", help: "Failed SQS ReceiveMessage calls", registers });
  const age = new Histogram({
    name: "sse_gateway_sqs_message_age_seconds",
    help: "Time from SendMessage to handling by this instance",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers,
  });
  let oldestSinceScrape = 0;
  new Gauge({
    name: "sse_gateway_sqs_oldest_message_age_seconds",
    help: "Age of the oldest SQS message handled since the previous scrape",
    registers,
    collect() {
      this.set(oldestSinceScrape);
      oldestSinceScrape = 0;
    },
  });
  return {
    received: (count) => received.inc(count),
    delivered: (count) => delivered.inc(count),
    failed: (reason: SqsFailureReason, count = 1) => failed.inc({ reason }, count),
    receiveFailed: () => receiveErrors.inc(),
    handled(ageMs) {
      const seconds = Math.max(0, ageMs) / 1000;
      age.observe(seconds);
      oldestSinceScrape = Math.max(oldestSinceScrape, seconds);
    },
  };
}

/** The subscriber authorizer's metrics: calls by outcome, their latency, cache hits, failures by reason. */
function authorizerMetrics(registers: Registry[]): AuthorizerObserver {
  const calls = new Counter<"authorizer" | "outcome">({
    name: "sse_gateway_authorizer_calls_total",
    help: "Calls to the subscriber authorizer (webhook or Lambda), by outcome: allow, deny, failure",
    labelNames: ["authorizer", "outcome"],
    registers,
  });
  const latency = new Histogram<"authorizer">({
    name: "sse_gateway_authorizer_duration_seconds",
    help: "Time a call to the subscriber authorizer took, failures and timeouts included",
    labelNames: ["authorizer"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const hits = new Counter<"authorizer" | "source">({
    name: "sse_gateway_authorizer_cache_hits_total",
    help: "Stream opens decided without a call: a stored decision (stored) or one shared with an identical call in flight (in_flight)",
    labelNames: ["authorizer", "source"],
    registers,
  });
  const failures = new Counter<"authorizer" | "reason">({
    name: "sse_gateway_authorizer_failures_total",
    help: "Authorizer calls without a usable decision, by reason (timeout, unreachable, bad_status, function_error, invoke_error, overloaded, invalid_answer)",
    labelNames: ["authorizer", "reason"],
    registers,
  });
  return {
    called(authorizer, outcome, seconds) {
      calls.inc({ authorizer, outcome });
      latency.observe({ authorizer }, seconds);
    },
    cacheHit: (authorizer, source) => hits.inc({ authorizer, source }),
    failed: (authorizer, reason) => failures.inc({ authorizer, reason }),
  };
}
