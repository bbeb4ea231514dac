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

  async publish(draft: EventDraft, source: EventSource): Promise<PublishResult> {
    const result = await this.#bus.publish(draft);
    this.#onPublished(source, result);
    return result;
  }
}
