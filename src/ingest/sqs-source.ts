import { setTimeout as sleep } from "node:timers/promises";
import { GetQueueAttributesCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import type { FastifyBaseLogger } from "fastify";
import { BusRejectedError, BusUnavailableError, IdempotencyConflictError } from "../bus/event-bus.ts";
import type { SqsConfig } from "../config/sqs-config.ts";
import type { EventDraft } from "../events/event.ts";
import type { Publisher } from "../events/publisher.ts";
import type { Health } from "../health.ts";
import type { IngestSource } from "./ingest-source.ts";
import { readMessageBody } from "./sqs/message-body.ts";
import { PoisonMessageError, type PoisonReason } from "./sqs/poison-message.ts";
import { QueuePoller, type PollerEvents, type Settlement } from "./sqs/queue-poller.ts";

/** Why a message was not delivered this time, as counted in metrics. */
export type SqsFailureReason = PoisonReason | "bus_unavailable" | "bus_rejected" | "delete_failed" | "handler_error";

/** The consumer's counters; the metrics module implements it. */
export interface SqsObserver {
  received(count: number): void;
  /** Accepted by the bus and deleted from the queue. */
  delivered(count: number): void;
  failed(reason: SqsFailureReason, count?: number): void;
  receiveFailed(): void;
  /** Time from SendMessage to the start of handling. */
  handled(ageMs: number): void;
}

export interface SqsSourceOptions {
  readonly config: SqsConfig;
  readonly maxEventBytes: number;
  readonly publisher: Publisher;
  readonly log: FastifyBaseLogger;
  readonly observer: SqsObserver;
}

const MAX_BUS_RETRY_MS = 5000;

/**
 * Events from an SQS queue (an EventBridge rule's target). A message is deleted only once the
 * bus accepted its event; while the bus is down (a transient failure) it is held, kept hidden and
 * retried, so the queue's receive count does not climb towards the dead-letter queue during an
 * outage. A message the bus refuses for good is left to the redrive policy at once: not
 * deleted, not kept hidden beyond its visibility timeout.
 */
export class SqsSource implements IngestSource {
  readonly name = "sqs";
  readonly #options: SqsSourceOptions;
  readonly #client: SQSClient;
  readonly #poller: QueuePoller;
  readonly #stopping = new AbortController();
  #receiveError?: string;
  #heldForBus = 0;

  constructor(options: SqsSourceOptions) {
    this.#options = options;
    const { config } = options;
    this.#client = new SQSClient({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      // A long poll answers within 20 s; a connection silent for longer is dead, not slow.
      requestHandler: { connectionTimeout: 5000, requestTimeout: 30_000 },
    });
    this.#poller = new QueuePoller({
      client: this.#client,
      queueUrl: config.queueUrl,
      visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
      pollers: config.pollers,
      handle: (message) => this.#handle(message),
      events: this.#pollerEvents(),
    });
  }

  start(): void {
    this.#options.log.info({ queueUrl: this.#options.config.queueUrl }, "consuming SQS queue");
    this.#poller.start();
    void this.#warnWithoutRedrivePolicy();
  }

  /** Stops receiving, gives back what waits for the bus, deletes what was delivered. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#poller.stop();
    this.#client.destroy();
  }

  health(): Health {
    if (this.#stopping.signal.aborted) return { ready: false, reason: "stopped" };
    if (this.#receiveError !== undefined) return { ready: false, reason: `receiving from the queue fails: ${this.#receiveError}` };
    if (this.#heldForBus > 0) return { ready: false, reason: `holding ${this.#heldForBus} messages until the bus takes events again` };
    return { ready: true };
  }

  async #handle(message: Message): Promise<Settlement> {
    const sentAt = Number(message.Attributes?.SentTimestamp);
    if (Number.isFinite(sentAt)) this.#options.observer.handled(Date.now() - sentAt);
    let draft: EventDraft;
    try {
      draft = readMessageBody(message.Body ?? "", this.#options.config.routing, this.#options.maxEventBytes).draft;
    } catch (error) {
      if (!(error instanceof PoisonMessageError)) throw error;
      this.#options.observer.failed(error.reason);
      this.#options.log.warn(
        { messageId: message.MessageId, reason: error.reason, receiveCount: message.Attributes?.ApproximateReceiveCount },
        "SQS message cannot be delivered and is left for the dead-letter queue: %s",
        error.message,
      );
      return "keep";
    }
    return this.#publish(draft, message);
  }

  async #publish(draft: EventDraft, message: Message): Promise<Settlement> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#options.publisher.publish(draft, "sqs");
        return "delete";
      } catch (error) {
        if (error instanceof BusRejectedError || error instanceof IdempotencyConflictError) return this.#refused(message, error);
        if (!(error instanceof BusUnavailableError)) throw error;
        this.#options.observer.failed("bus_unavailable");
        if (attempt === 1) this.#options.log.warn({ messageId: message.MessageId, err: error }, "bus unavailable: holding the SQS message and retrying");
      }
      if (this.#stopping.signal.aborted) return "release";
      this.#heldForBus++;
      await sleep(Math.min(MAX_BUS_RETRY_MS, 100 * 2 ** attempt), undefined, { signal: this.#stopping.signal }).catch(() => undefined);
      this.#heldForBus--;
      if (this.#stopping.signal.aborted) return "release";
    }
  }

  #refused(message: Message, error: Error): Settlement {
    this.#options.observer.failed("bus_rejected");
    this.#options.log.warn(
      { messageId: message.MessageId, receiveCount: message.Attributes?.ApproximateReceiveCount, err: error.message },
      "the bus refused the SQS message's event for good; it is left for the dead-letter queue",
    );
    return "keep";
  }

  #pollerEvents(): PollerEvents {
    const { log, observer } = this.#options;
    return {
      received: (messages) => observer.received(messages.length),
      receiveSucceeded: () => {
        if (this.#receiveError !== undefined) log.info("receiving from the SQS queue works again");
        this.#receiveError = undefined;
      },
      receiveFailed: (error) => {
        observer.receiveFailed();
        log.warn({ err: error }, "receiving from the SQS queue failed");
        this.#receiveError = error.message;
      },
      deleted: (messages) => observer.delivered(messages.length),
      handlerFailed: (message, error) => {
        observer.failed("handler_error");
        log.error({ messageId: message.MessageId, err: error }, "SQS message handling failed; it is left for the dead-letter queue");
      },
      settleFailed: (action, messageIds, reason) => {
        if (action === "delete") observer.failed("delete_failed", messageIds.length);
        log.warn({ messageIds, action, reason }, "SQS %s failed; the messages come back after their visibility timeout", action);
      },
    };
  }

  /** Without a redrive policy a poison message comes back forever: say so at start. */
  async #warnWithoutRedrivePolicy(): Promise<void> {
    try {
      const output = await this.#client.send(
        new GetQueueAttributesCommand({ QueueUrl: this.#options.config.queueUrl, AttributeNames: ["RedrivePolicy"] }),
      );
      if (output.Attributes?.RedrivePolicy === undefined) {
        this.#options.log.warn("the SQS queue has no redrive policy: undeliverable messages will be received again and again");
      }
    } catch (error) {
      this.#options.log.debug({ err: error }, "could not read the SQS queue's redrive policy");
    }
  }
}
