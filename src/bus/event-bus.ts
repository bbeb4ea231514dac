import type { EventDraft, GatewayEvent } from "../events/event.ts";
import type { EventPosition } from "../events/event-id.ts";
import type { Health } from "../health.ts";

export interface PublishResult {
  readonly id: string;
  /** True when the idempotency key was seen within the window: nothing new was delivered. */
  readonly duplicate: boolean;
}

export interface HistoryRead {
  /** Events of the asked channels after the given position, oldest first, each once. */
  readonly events: readonly GatewayEvent[];
  /** False when history no longer covers everything after the position (trimmed or lost). */
  readonly complete: boolean;
  /** The newest id the bus has issued: a client position beyond it is not trusted. */
  readonly head: EventPosition;
}

/** What the bus calls back into: the hub of live streams on this instance. */
export interface BusListener {
  /** A live event for channels this instance watches, in id order. */
  deliver(event: GatewayEvent): void;
  /** Live delivery was interrupted (e.g. a lost Redis connection) and is back: catch every stream up. */
  resync(): void;
}

/**
 * Carries events between publishers and the hubs of every instance, and keeps their short
 * history. The memory bus serves one process; the Redis bus makes instances one gateway.
 */
export interface EventBus {
  /** Called once, before anything else, with the hub that receives live events. */
  attach(listener: BusListener): void;
  /**
   * Stores the event in history and sends it to every watching instance, as one atomic step.
   * Rejects with BusUnavailableError when it cannot do both; then nothing was accepted.
   */
  publish(draft: EventDraft): Promise<PublishResult>;
  readSince(channels: readonly string[], after: EventPosition): Promise<HistoryRead>;
  /** The newest id issued so far: where a stream without Last-Event-ID starts. */
  head(): Promise<EventPosition>;
  /** Resolves once live events of the channel flow to this instance's listener. */
  watch(channel: string): Promise<void>;
  unwatch(channel: string): void;
  health(): Health;
  close(): Promise<void>;
}

/** The backend behind the bus cannot take or give events now; the caller may retry. */
export class BusUnavailableError extends Error {
  override readonly name = "BusUnavailableError";
}
