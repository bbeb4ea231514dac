import type { GatewayEvent } from "../events/event.ts";

export interface HeldLimits {
  readonly maxEvents: number;
  /** Bytes of event data (`dataJson`) held at most. */
  readonly maxBytes: number;
}

/**
 * Live events that arrive while a stream catches up from history, kept until the catch-up
 * ends. Past either limit they are all let go and the overflow is noted: history holds them
 * too (an event is stored before it is sent live), so the catch-up reads once more instead.
 */
export class HeldEvents {
  readonly #limits: HeldLimits;
  #events: GatewayEvent[] = [];
  #bytes = 0;
  #overflowed = false;

  constructor(limits: HeldLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#events.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Whether events were let go since the last history read began. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  add(event: GatewayEvent): void {
    if (this.#events.length >= this.#limits.maxEvents || this.#bytes + event.dataJson.length > this.#limits.maxBytes) {
      this.#events = [];
      this.#bytes = 0;
      this.#overflowed = true;
      return;
    }
    this.#events.push(event);
    this.#bytes += event.dataJson.length;
  }

  /** A history read begins: it covers whatever was let go before now. */
  readBegins(): void {
    this.#overflowed = false;
  }

  takeAll(): GatewayEvent[] {
    const events = this.#events;
    this.#events = [];
    this.#bytes = 0;
    return events;
  }
}
