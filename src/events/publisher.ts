import type { EventBus, PublishResult } from "../bus/event-bus.ts";
import type { EventDraft } from "./event.ts";

/** Where an event entered the gateway, for metrics. */
export type EventSource = "http" | "sqs" | "redis";

/** The one way in for events from every source: counts them, then hands them to the bus. */
export class Publisher {
  readonly #bus: EventBus;
  readonly #onPublished: (source: EventSource, result: PublishResult) => void;

  constructor(bus: EventBus, onPublished: (source: EventSource, result: PublishResult) => void) {
    this.#bus = bus;
    this.#onPublished = onPublished;
  }

  /**
   * `publisherId` (the publisher token's subject, for HTTP) and the source scope the idempotency
   * key: two publishers that pick the same key never swallow each other's events.
   */
  async publish(draft: EventDraft, source: EventSource, publisherId?: string): Promise<PublishResult> {
    const result = await this.#bus.publish(scopeIdempotencyKey(draft, source, publisherId));
    this.#onPublished(source, result);
    return result;
  }
}

function scopeIdempotencyKey(draft: EventDraft, source: EventSource, publisherId: string | undefined): EventDraft {
  if (draft.idempotencyKey === undefined) return draft;
  return { ...draft, idempotencyKey: scopedIdempotencyKey(draft.idempotencyKey, source, publisherId) };
}

/** A publisher's key as the bus stores it (for a lookup by key, EventBus.findByIdempotencyKey). */
export function scopedIdempotencyKey(key: string, source: EventSource, publisherId: string | undefined): string {
  // JSON keeps the parts apart whatever characters the subject and the key hold.
  const scope = publisherId === undefined ? [source] : [source, publisherId];
  return JSON.stringify([...scope, key]);
}
