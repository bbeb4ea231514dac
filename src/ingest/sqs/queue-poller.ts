import { setTimeout as sleep } from "node:timers/promises";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** What becomes of a handled message. */
export type Settlement =
  /** Its event was accepted: remove it from the queue. */
  | "delete"
  /** It can never be delivered: leave it hidden until its visibility timeout, so that the redrive policy counts it. */
  | "keep"
  /** It was not handled (shutting down): make it visible now for another consumer. */
  | "release";

/** What the poller tells its owner, for health, metrics and logs. */
export interface PollerEvents {
  received(messages: readonly Message[]): void;
  receiveFailed(error: Error): void;
  receiveSucceeded(): void;
  deleted(messages: readonly Message[]): void;
  /** The handler broke its promise not to throw; the message is kept for the redrive policy. */
  handlerFailed(message: Message, error: Error): void;
  /** An SQS call about messages failed; they come back after their visibility timeout. */
  settleFailed(action: "delete" | "release" | "extend", messageIds: readonly string[], reason: string): void;
}

export interface QueuePollerOptions {
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly visibilityTimeoutSeconds: number;
  readonly pollers: number;
  /** Must not throw: every outcome is a settlement. */
  readonly handle: (message: Message) => Promise<Settlement>;
  readonly events: PollerEvents;
}

interface HandledMessage {
  readonly message: Message;
  readonly settlement: Settlement;
}

const WAIT_TIME_SECONDS = 20;
const MAX_BATCH = 10;
const MAX_BACKOFF_MS = 20_000;
/** After a batch of fewer than MAX_BATCH, a loop waits this long before its next receive. */
const PARTIAL_BATCH_PAUSE_MS = 20;

/**
 * Long-polls one queue with a few receive loops; each handles its batch of up to 10 in parallel,
 * keeps the batch hidden while handling takes long, then deletes what was delivered in one call,
 * which goes out while the loop receives its next batch; after a partial batch a loop waits a
 * moment first, so that each call carries more messages. Stopping cancels only the receive calls:
 * deletes of handled messages always go out.
 */
export class QueuePoller {
  readonly #options: QueuePollerOptions;
  readonly #receiveAbort = new AbortController();
  #loops: Promise<void>[] = [];

  constructor(options: QueuePollerOptions) {
    this.#options = options;
  }

  get #stopping(): boolean {
    return this.#receiveAbort.signal.aborted;
  }

  start(): void {
    for (let index = 0; index < this.#options.pollers; index++) this.#loops.push(this.#run());
  }

  /** Cancels the receive calls and resolves once every held batch is settled. */
  async stop(): Promise<void> {
    this.#receiveAbort.abort();
    await Promise.all(this.#loops);
  }

  async #run(): Promise<void> {
    // The last batch's deletes, under way while the next receive waits: one round trip less per
    // batch. A batch's own go out as soon as it is handled (it is no longer kept hidden: waiting
    // behind a slow delete would let its visibility timeout run out too); the one before is
    // awaited then, so a loop has at most one under way while it receives, and none when it ends.
    let settling: Promise<void> = Promise.resolve();
    try {
      let failures = 0;
      while (!this.#stopping) {
        let messages: Message[];
        try {
          // After a failure, a short poll tells at once whether the queue answers again.
          messages = await this.#receive(failures > 0 ? 0 : WAIT_TIME_SECONDS);
          failures = 0;
          this.#options.events.receiveSucceeded();
        } catch (error) {
          if (this.#stopping) return;
          failures++;
          this.#options.events.receiveFailed(error as Error);
          await this.#pause(Math.min(MAX_BACKOFF_MS, 500 * 2 ** failures));
          continue;
        }
        if (messages.length === 0) continue;
        const settled = await this.#handleBatch(messages);
        const previous = settling;
        settling = this.#settle(settled);
        await previous;
        // A partial batch: the queue holds fewer than 10 right now. Receiving again at once would
        // bring back a message or two per call, and each call costs the SDK about half a
        // millisecond of CPU; a moment's wait fills the next one (the other loops keep polling).
        if (messages.length < MAX_BATCH) await this.#pause(PARTIAL_BATCH_PAUSE_MS);
      }
    } finally {
      await settling;
    }
  }

  async #receive(waitTimeSeconds: number): Promise<Message[]> {
    const output = await this.#options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#options.queueUrl,
        MaxNumberOfMessages: MAX_BATCH,
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: this.#options.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ["SentTimestamp", "ApproximateReceiveCount"],
      }),
      { abortSignal: this.#receiveAbort.signal },
    );
    return output.Messages ?? [];
  }

  async #pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.#receiveAbort.signal }).catch(() => undefined);
  }

  /** Handles a batch in parallel, keeping it hidden meanwhile; resolves with each message's settlement. */
  async #handleBatch(messages: readonly Message[]): Promise<HandledMessage[]> {
    this.#options.events.received(messages);
    const held = new Set(messages);
    const heartbeat = setInterval(() => void this.#extend([...held]), (this.#options.visibilityTimeoutSeconds * 1000) / 3);
    const settled = await Promise.all(
      messages.map(async (message) => {
        const settlement = await this.#options.handle(message).catch((error: unknown) => {
          this.#options.events.handlerFailed(message, error as Error);
          return "keep" as const;
        });
        held.delete(message);
        return { message, settlement };
      }),
    );
    clearInterval(heartbeat);
    return settled;
  }

  /** Deletes what was delivered and releases what was not handled; never rejects. */
  async #settle(settled: readonly HandledMessage[]): Promise<void> {
    const toDelete = settled.filter((entry) => entry.settlement === "delete").map((entry) => entry.message);
    const toRelease = settled.filter((entry) => entry.settlement === "release").map((entry) => entry.message);
    await Promise.all([this.#delete(toDelete), this.#changeVisibility("release", toRelease, 0)]);
  }

  async #extend(messages: readonly Message[]): Promise<void> {
    await this.#changeVisibility("extend", messages, this.#options.visibilityTimeoutSeconds);
  }

  async #delete(messages: readonly Message[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      const output = await this.#options.client.send(
        new DeleteMessageBatchCommand({ QueueUrl: this.#options.queueUrl, Entries: entries(messages) }),
      );
      const failed = new Set((output.Failed ?? []).map((entry) => entry.Id));
      if (failed.size > 0) this.#reportFailed("delete", messages.filter((_, index) => failed.has(String(index))), output.Failed?.[0]?.Message);
      this.#options.events.deleted(messages.filter((_, index) => !failed.has(String(index))));
    } catch (error) {
      this.#reportFailed("delete", messages, (error as Error).message);
    }
  }

  async #changeVisibility(action: "release" | "extend", messages: readonly Message[], seconds: number): Promise<void> {
    if (messages.length === 0) return;
    try {
      const output = await this.#options.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.#options.queueUrl,
          Entries: entries(messages).map((entry) => ({ ...entry, VisibilityTimeout: seconds })),
        }),
      );
      const failed = new Set((output.Failed ?? []).map((entry) => entry.Id));
      if (failed.size > 0) this.#reportFailed(action, messages.filter((_, index) => failed.has(String(index))), output.Failed?.[0]?.Message);
    } catch (error) {
      this.#reportFailed(action, messages, (error as Error).message);
    }
  }

  #reportFailed(action: "delete" | "release" | "extend", messages: readonly Message[], reason = "unknown"): void {
    this.#options.events.settleFailed(action, messages.map((message) => message.MessageId ?? "?"), reason);
  }
}

/** Batch entries are identified by their index: MessageIds are unique but may hold characters batch ids may not. */
function entries(messages: readonly Message[]): { Id: string; ReceiptHandle: string }[] {
  return messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? "" }));
}
