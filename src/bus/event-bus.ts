import type { EventDraft, GatewayEvent } from "../events/event.ts";
import type { EventPosition } from "../events/event-id.ts";
import type { Health } from "../health.ts";

export interface PublishResult {
  readonly id: string;
  /** True when the idempotency key was seen within the window: nothing new was delivered. */
  readonly duplicate: boolean;
}

/** How much one history read may return: a catch-up reads page after page, each bounded. */
export interface PageLimits {
  /** Events in one page, at most. */
  readonly maxEvents: number;
  /**
   * Bytes of event data (`dataJson`) in one page, at most; a page always holds at least one
   * event when there is one, even a larger one.
   */
  readonly maxBytes: number;
}

export interface HistoryPage {
  /**
   * Events of the asked channels after the given position, oldest first, each once (an event
   * sent to several of the channels appears once), merged by id across the channels.
   */
  readonly events: readonly GatewayEvent[];
  /** False when history no longer covers everything after the position (trimmed or lost). */
  readonly complete: boolean;
  /**
   * True when the page was cut by its limits: more events follow the last one returned. Read the
   * next page after that last event's id.
   */
  readonly more: boolean;
  /** The newest id the bus has issued: a client position beyond it is not trusted. */
  readonly head: EventPosition;
}

/** What the bus calls back into: the hub of live streams on this instance. */
export interface BusListener {
  /** A live event for channels this instance watches, in id order. */
  deliver(event: GatewayEvent): void;
  /**
   * Live delivery of these channels (every channel when omitted) was interrupted and may have
   * missed events, and works again: the streams of those channels must catch up from history.
   */
  resync(channels?: readonly string[]): void;
}

/**
 * The channel that stands for every event: watching it brings every event live, and reading it
 * reads the global log of ids in id order. For subscriptions that match by pattern (Mercure's
 * URI templates and `*`), which filter what they receive; an instance with no such stream does
 * not watch it and receives only the channels it asks for.
 */
export const ALL_EVENTS_CHANNEL = "*";

/**
 * Carries events between publishers and the hubs of every instance, and keeps their short
 * history. The memory bus serves one process; the Redis bus makes instances one gateway.
 */
export interface EventBus {
  /** Called once, before anything else, with the hub that receives live events. */
  attach(listener: BusListener): void;
  /**
   * Stores the event in history and sends it to every watching instance, as one atomic step.
   * Rejects with BusUnavailableError when it cannot do both; then nothing was accepted. Rejects
   * with IdempotencyConflictError when the key was seen with another fingerprint.
   */
  publish(draft: EventDraft): Promise<PublishResult>;
  /** One page of history after a position. Writes nothing. */
  readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage>;
  /** The newest id issued so far: where a stream without Last-Event-ID starts. */
  head(): Promise<EventPosition>;
  /**
   * The id of the event published with this (already scoped) idempotency key, while the key is
   * remembered (the idempotency window); undefined for a key never seen or forgotten. Writes
   * nothing. How a protocol whose publishers name their events (Mercure) resumes from such a name.
   */
  findByIdempotencyKey(idempotencyKey: string): Promise<string | undefined>;
  /** Resolves once live events of the channel flow to this instance's listener. */
  watch(channel: string): Promise<void>;
  unwatch(channel: string): void;
  health(): Health;
  close(): Promise<void>;
}

/**
 * Transient: the backend cannot take or give events now (connection lost, timeout, too many
 * commands waiting, loading, a failover under way). The caller retries with backoff.
 */
export class BusUnavailableError extends Error {
  override readonly name = "BusUnavailableError";
}

/**
 * Transient, outcome unknown: the command reached the backend, which did not answer in time and
 * may still carry it out (Redis paused, or slow). A publish retried after it needs its
 * idempotency key to stay one event.
 */
export class BusOutcomeUnknownError extends BusUnavailableError {}

/**
 * Permanent: the backend refused this very request (a script error, a key of the wrong type)
 * and will refuse it again. The caller does not retry: it dead-letters, logs once and counts.
 */
export class BusRejectedError extends Error {
  override readonly name = "BusRejectedError";
}

/** The idempotency key was already used, within the window, for an event with other content. */
export class IdempotencyConflictError extends Error {
  override readonly name = "IdempotencyConflictError";
  /** The id of the event first published with this key. */
  readonly existingId: string;

  constructor(existingId: string) {
    super(`the idempotency key was already used for another event (${existingId}) with different content`);
    this.existingId = existingId;
  }
}
