import { EventIdClock, comparePositions, formatEventId, type EventPosition } from "../events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../events/event.ts";
import type { Health } from "../health.ts";
import {
  ALL_EVENTS_CHANNEL,
  IdempotencyConflictError,
  type BusListener,
  type EventBus,
  type HistoryPage,
  type PageLimits,
  type PublishResult,
} from "./event-bus.ts";
import type { RetentionOptions } from "./retention.ts";

interface ChannelLog {
  /** Oldest first. */
  events: GatewayEvent[];
  /** The newest position that left this log by trimming: a reader behind it has a gap. */
  trimmedThrough?: EventPosition;
}

/**
 * The bus of one process with no Redis: events go straight to the local hub, and history is
 * kept per channel in memory with the same retention rules as the Redis bus.
 */
export class MemoryBus implements EventBus {
  readonly #clock: EventIdClock;
  readonly #retention: RetentionOptions;
  readonly #now: () => number;
  readonly #logs = new Map<string, ChannelLog>();
  readonly #recentKeys = new Map<string, { id: string; fingerprint?: string; expiresAt: number }>();
  /** Channels some local stream watches: only their events go to the listener, as with Redis. */
  readonly #watched = new Set<string>();
  /** History older than this position was never held by this process. */
  readonly #epoch: EventPosition;
  readonly #sweeper: NodeJS.Timeout;
  #listener?: BusListener;

  constructor(retention: RetentionOptions, now: () => number = Date.now) {
    this.#retention = retention;
    this.#now = now;
    this.#clock = new EventIdClock(now);
    this.#epoch = this.#clock.next();
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(retention.maxAgeMs, 60_000));
    this.#sweeper.unref();
  }

  attach(listener: BusListener): void {
    this.#listener = listener;
  }

  async publish(draft: EventDraft): Promise<PublishResult> {
    if (draft.idempotencyKey !== undefined) {
      const seen = this.#recentKeys.get(draft.idempotencyKey);
      if (seen && seen.expiresAt > this.#now()) {
        if (seen.fingerprint !== draft.fingerprint) throw new IdempotencyConflictError(seen.id);
        return { id: seen.id, duplicate: true };
      }
    }
    const previous = this.#clock.last;
    const position = this.#clock.next();
    const event: GatewayEvent = {
      ...position,
      id: formatEventId(position),
      type: draft.type,
      dataJson: draft.dataJson,
      channels: draft.channels,
    };
    if (draft.idempotencyKey !== undefined) {
      this.#recentKeys.set(draft.idempotencyKey, {
        id: event.id,
        ...(draft.fingerprint === undefined ? {} : { fingerprint: draft.fingerprint }),
        expiresAt: this.#now() + this.#retention.idempotencyWindowMs,
      });
    }
    for (const channel of event.channels) this.#append(channel, event, previous);
    this.#append(ALL_EVENTS_CHANNEL, event, previous);
    if (this.#isWatched(event)) this.#listener?.deliver(event);
    return { id: event.id, duplicate: false };
  }

  async readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage> {
    const head = this.#clock.last;
    if (comparePositions(after, this.#epoch) < 0) return { events: [], complete: false, more: false, head };
    const oldestKept = this.#now() - this.#retention.maxAgeMs;
    const unread: ChannelLog[] = [];
    for (const channel of channels) {
      const log = this.#logs.get(channel);
      if (!log) {
        // No log: either nothing was ever sent here, or all of it aged out. Only an event newer
        // than the reader and older than the age limit can have aged out unseen.
        if (after.ms < oldestKept && comparePositions(head, after) > 0) return { events: [], complete: false, more: false, head };
        continue;
      }
      this.#trimByAge(log, oldestKept);
      if (log.trimmedThrough && comparePositions(log.trimmedThrough, after) > 0) return { events: [], complete: false, more: false, head };
      unread.push(log);
    }
    return { ...mergePage(unread, after, limits), complete: true, head };
  }

  async head(): Promise<EventPosition> {
    return this.#clock.last;
  }

  async findByIdempotencyKey(idempotencyKey: string): Promise<string | undefined> {
    const seen = this.#recentKeys.get(idempotencyKey);
    return seen && seen.expiresAt > this.#now() ? seen.id : undefined;
  }

  async watch(channel: string): Promise<void> {
    this.#watched.add(channel);
  }

  unwatch(channel: string): void {
    this.#watched.delete(channel);
  }

  health(): Health {
    return { ready: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #isWatched(event: GatewayEvent): boolean {
    return this.#watched.has(ALL_EVENTS_CHANNEL) || event.channels.some((channel) => this.#watched.has(channel));
  }

  #append(channel: string, event: GatewayEvent, previous: EventPosition): void {
    let log = this.#logs.get(channel);
    if (!log) {
      // The sweep may have dropped a log whose events all aged out: those were older than the age
      // limit and not newer than the previous id, so a reader behind that point must refetch.
      const agedOut = { ms: this.#now() - this.#retention.maxAgeMs, seq: 0 };
      log = { events: [], trimmedThrough: comparePositions(previous, agedOut) < 0 ? previous : agedOut };
      this.#logs.set(channel, log);
    }
    log.events.push(event);
    // A full log drops one event per publish: shift() trims the array in place, where splice(0, 1)
    // copies the whole log (3 µs at 1,000 events, on every publish to the all-events log).
    while (log.events.length > this.#retention.maxEvents) log.trimmedThrough = log.events.shift();
  }

  #trimByAge(log: ChannelLog, oldestKept: number): void {
    let drop = 0;
    while (drop < log.events.length && log.events[drop]!.ms < oldestKept) drop++;
    if (drop > 0) log.trimmedThrough = log.events.splice(0, drop)[drop - 1];
  }

  /** Frees logs and idempotency keys that have aged out, so idle channels cost nothing. */
  #sweep(): void {
    const now = this.#now();
    const oldestKept = now - this.#retention.maxAgeMs;
    for (const [channel, log] of this.#logs) {
      this.#trimByAge(log, oldestKept);
      if (log.events.length === 0) this.#logs.delete(channel);
    }
    for (const [key, entry] of this.#recentKeys) {
      if (entry.expiresAt <= now) this.#recentKeys.delete(key);
    }
  }
}

/**
 * The first events after `after` across the logs, merged by id, each once, within the limits (at
 * least one when there is one). Each log is ordered, so a page costs its own size plus a search
 * per log, however much history follows it.
 */
function mergePage(logs: readonly ChannelLog[], after: EventPosition, limits: PageLimits): { events: GatewayEvent[]; more: boolean } {
  const next = logs.map((log) => firstAfter(log.events, after));
  const events: GatewayEvent[] = [];
  let bytes = 0;
  for (;;) {
    let oldest = -1;
    for (let i = 0; i < logs.length; i++) {
      const candidate = logs[i]!.events[next[i]!];
      if (candidate && (oldest < 0 || comparePositions(candidate, logs[oldest]!.events[next[oldest]!]!) < 0)) oldest = i;
    }
    if (oldest < 0) return { events, more: false };
    const event = logs[oldest]!.events[next[oldest]!]!;
    if (events.length >= limits.maxEvents || (events.length > 0 && bytes + event.dataJson.length > limits.maxBytes)) return { events, more: true };
    // An event of several channels is the same object in each of their logs: taken once.
    for (let i = 0; i < logs.length; i++) if (logs[i]!.events[next[i]!] === event) next[i]!++;
    events.push(event);
    bytes += event.dataJson.length;
  }
}

/** Index of the first event after the position in an ordered log (its length when there is none). */
function firstAfter(events: readonly GatewayEvent[], after: EventPosition): number {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (comparePositions(events[middle]!, after) > 0) high = middle;
    else low = middle + 1;
  }
  return low;
}
