import { comparePositions, type EventPosition } from "../../events/event-id.ts";
import type { GatewayEvent } from "../../events/event.ts";
import type { LiveMessage } from "./event-codec.ts";

/** Ids fetched in one MGET. */
const FETCH_BATCH = 500;
/** Live events waiting for a fetch, at most, and their bytes: past this the instance catches up from history instead. */
const MAX_WAITING = 10_000;
const MAX_WAITING_BYTES = 32 * 1024 * 1024;

export interface LiveAssemblerOptions {
  /** The stored events of these ids, null where one is gone. */
  readonly fetch: (ids: readonly string[]) => Promise<(string | null)[]>;
  readonly decode: (id: string, stored: string) => GatewayEvent | undefined;
  readonly deliver: (event: GatewayEvent) => void;
  /** Live events were lost on the way (a fetch failed): the streams must catch up from history. */
  readonly onGap: (reason: string) => void;
}

interface Slot {
  readonly id: string;
  event?: GatewayEvent;
}

/**
 * Turns the live messages of one subscriber connection, which arrive in id order, into events
 * delivered once each and in that same order: a repeat (an event sent to several channels this
 * instance watches) is dropped on arrival, and an event that came as a reference waits for its
 * stored copy, fetched in batches, while the events behind it wait their turn.
 */
export class LiveAssembler {
  readonly #options: LiveAssemblerOptions;
  readonly #queue: Slot[] = [];
  #unfetched: Slot[] = [];
  #lastArrived: EventPosition | undefined;
  /** Data bytes of the events in the queue that are there already. */
  #waitingBytes = 0;
  #flushScheduled = false;
  /** Bumped by reset and gaps, so that a fetch answered afterwards fills nothing. */
  #generation = 0;

  constructor(options: LiveAssemblerOptions) {
    this.#options = options;
  }

  accept(message: LiveMessage): void {
    const position = "event" in message ? message.event : message.reference;
    if (this.#lastArrived && comparePositions(position, this.#lastArrived) <= 0) return;
    this.#lastArrived = position;
    if ("event" in message && this.#queue.length === 0) {
      this.#options.deliver(message.event);
      return;
    }
    if (this.#queue.length >= MAX_WAITING) {
      this.#gap(`${MAX_WAITING} live events are waiting for their fetch`);
      return;
    }
    const slot: Slot = "event" in message ? { id: message.event.id, event: message.event } : { id: message.reference.id };
    this.#queue.push(slot);
    if (slot.event) {
      this.#hold(slot.event);
      return;
    }
    this.#unfetched.push(slot);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Messages of one socket read arrive in one go: their references are fetched together.
      queueMicrotask(() => this.#flush());
    }
  }

  /** A new subscriber connection: what the old one was waiting for is left to the catch-up. */
  reset(): void {
    this.#clear();
    this.#lastArrived = undefined;
  }

  #flush(): void {
    this.#flushScheduled = false;
    const slots = this.#unfetched;
    this.#unfetched = [];
    for (let start = 0; start < slots.length; start += FETCH_BATCH) void this.#fetch(slots.slice(start, start + FETCH_BATCH));
  }

  async #fetch(slots: readonly Slot[]): Promise<void> {
    const generation = this.#generation;
    let stored: (string | null)[];
    try {
      stored = await this.#options.fetch(slots.map((slot) => slot.id));
    } catch (error) {
      if (generation === this.#generation) this.#gap(`fetching live events failed: ${(error as Error).message}`);
      return;
    }
    if (generation !== this.#generation) return;
    for (const [index, slot] of slots.entries()) {
      const text = stored[index];
      const event = text === null || text === undefined ? undefined : this.#options.decode(slot.id, text);
      if (!event) {
        this.#gap(`the live event ${slot.id} is no longer stored`);
        return;
      }
      slot.event = event;
      this.#hold(event);
      if (generation !== this.#generation) return;
    }
    this.#drain();
  }

  #hold(event: GatewayEvent): void {
    this.#waitingBytes += event.dataJson.length;
    if (this.#waitingBytes > MAX_WAITING_BYTES) this.#gap(`${MAX_WAITING_BYTES} bytes of live events are waiting for an earlier fetch`);
  }

  #drain(): void {
    while (this.#queue[0]?.event) {
      const event = this.#queue.shift()!.event!;
      this.#waitingBytes -= event.dataJson.length;
      this.#options.deliver(event);
    }
  }

  #clear(): void {
    this.#generation++;
    this.#queue.length = 0;
    this.#unfetched = [];
    this.#waitingBytes = 0;
  }

  #gap(reason: string): void {
    this.#clear();
    this.#options.onGap(reason);
  }
}
