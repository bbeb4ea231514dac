import { ALL_EVENTS_CHANNEL, type BusListener, type EventBus } from "../bus/event-bus.ts";
import type { GatewayEvent } from "../events/event.ts";
import { ExpiryWheel } from "./expiry-wheel.ts";
import { FailureLog } from "./failure-log.ts";
import { HEARTBEAT_FRAME, controlFrame, eventFrame, retryFrame } from "./frames.ts";
import { HEARTBEAT_SLICES, Rotation } from "./heartbeat-rotation.ts";
import { OpenRate } from "./open-rate.ts";
import { ReadGate } from "./read-gate.ts";
import { NODE_TIMERS, StreamCursor, cursorContext, type CloseReason, type CursorContext, type CursorStream, type CursorTimers } from "./stream-cursor.ts";

export { REFETCH_EVENT } from "./stream-cursor.ts";

export interface HubOptions {
  readonly heartbeatIntervalMs: number;
  /** Bytes a stream may have queued before it counts as a slow client and is dropped. */
  readonly maxBufferBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  /** Streams one user may open per minute on this instance (reconnect loops, scripted floods). */
  readonly maxOpensPerUserPerMinute: number;
  /** The `retry:` hint sent on connect is retryMs plus a random share of retryJitterMs, per stream. */
  readonly retryMs: number;
  readonly retryJitterMs: number;
  /** Called after each event's fan-out with how many streams it was written to. */
  readonly onFanOut?: (event: GatewayEvent, deliveries: number) => void;
  readonly onError?: (message: string, error: unknown) => void;
  readonly now?: () => number;
  /** For tests that run cursors without waiting. */
  readonly timers?: CursorTimers;
}

/** A stream to open: whose, what it listens to, where it starts and where its bytes go. */
export interface StreamRequest extends CursorStream {
  /** Seconds since the epoch when the token expires (JWT `exp`), if it does. */
  readonly expiresAt?: number;
}

export type Refusal = { readonly status: 429 | 503; readonly reason: string; readonly retryAfterSeconds: number };

/** History reads in flight at once for the whole hub: a resync of every stream queues instead of flooding the bus. */
const READ_CONCURRENCY = 32;
/** A client that takes none of its catch-up for this long is dropped (it resumes with Last-Event-ID). */
const CATCH_UP_STALL_MS = 30_000;
/** Retries of a failed bus call: from 100 ms doubling to 2 s, so a stream is caught up within 5 s of the bus answering. */
const RETRY_BACKOFF = { baseMs: 100, maxMs: 2000 };

export const TOKEN_EXPIRED_EVENT = "gateway.token-expired";
export const DRAINING_EVENT = "gateway.draining";

/**
 * The live streams of this instance: admits them, routes each live event to the cursors of its
 * channels, keeps them alive with heartbeats and ends them on token expiry or shutdown. Each
 * stream's own course (catch-up, retries, position) is its StreamCursor's. It speaks to the
 * outside only through EventBus and StreamSink.
 */
export class Hub implements BusListener {
  readonly stats = { delivered: 0, slowClientDisconnects: 0, busFailures: 0 };
  readonly #bus: EventBus;
  readonly #cursors: CursorContext;
  readonly #options: HubOptions;
  readonly #now: () => number;
  readonly #byChannel = new Map<string, Set<StreamCursor>>();
  readonly #perUser = new Map<string, number>();
  readonly #rotation = new Rotation<StreamCursor>(HEARTBEAT_SLICES);
  readonly #expiry: ExpiryWheel<StreamCursor>;
  readonly #openRate: OpenRate;
  readonly #failures: FailureLog;
  readonly #timers: NodeJS.Timeout[];
  #draining = false;

  constructor(bus: EventBus, options: HubOptions) {
    this.#bus = bus;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const gate = new ReadGate(READ_CONCURRENCY);
    this.#cursors = cursorContext({
      bus: {
        watch: (channel) => bus.watch(channel),
        head: () => bus.head(),
        readPage: (channels, after, limits) => gate.run(() => bus.readPage(channels, after, limits)),
      },
      maxBufferBytes: options.maxBufferBytes,
      stallMs: CATCH_UP_STALL_MS,
      backoff: RETRY_BACKOFF,
      timers: options.timers ?? NODE_TIMERS,
      random: Math.random,
      now: this.#now,
      onBusFailure: (what, error) => {
        this.stats.busFailures++;
        this.#failures.failed(what, error);
      },
      onClosed: (cursor, why) => this.#unregister(cursor, why),
      currentTick: () => this.#rotation.tick,
    });
    this.#expiry = new ExpiryWheel(this.#now() / 1000);
    this.#openRate = new OpenRate(options.maxOpensPerUserPerMinute, this.#now);
    this.#failures = new FailureLog((message, error) => options.onError?.(message, error), this.#now);
    this.#timers = [
      setInterval(() => this.#heartbeatTick(), options.heartbeatIntervalMs / HEARTBEAT_SLICES),
      setInterval(() => this.#expireTokens(), 1000),
    ];
    for (const timer of this.#timers) timer.unref();
    bus.attach(this);
  }

  get size(): number {
    return this.#rotation.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Whether a new stream for this user may open now, counting the open; a refusal says why and when to retry. */
  admit(userId: string): Refusal | undefined {
    return this.#refusal(userId) ?? this.#rateRefusal(this.#openRate.take(userId));
  }

  /** What admit would answer, without counting an open (HEAD /events). */
  wouldAdmit(userId: string): Refusal | undefined {
    return this.#refusal(userId) ?? this.#rateRefusal(this.#openRate.peek(userId));
  }

  /**
   * Starts serving a stream; its response head goes out with its first bytes. A connection that
   * is already gone is let go at once, so it never holds a slot.
   */
  open(request: StreamRequest): StreamCursor {
    const cursor = new StreamCursor(this.#cursors, request);
    this.#register(cursor, request);
    // Jittered per stream: an abrupt cut (a crash, the load balancer, a lost zone) ends many
    // streams at once, and their reconnects should not arrive at once.
    request.sink.onClose(() => cursor.clientGone());
    cursor.start(retryFrame(this.#options.retryMs + Math.random() * this.#options.retryJitterMs));
    return cursor;
  }

  deliver(event: GatewayEvent): void {
    let frame: Buffer | undefined;
    const makeFrame = () => (frame ??= eventFrame(event));
    // Streams of ALL_EVENTS_CHANNEL are offered every event, and filter by their view.
    const channels = this.#byChannel.has(ALL_EVENTS_CHANNEL) ? [...event.channels, ALL_EVENTS_CHANNEL] : event.channels;
    // An event of several channels reaches a stream on more than one of them only once.
    const offered = channels.length > 1 ? new Set<StreamCursor>() : undefined;
    let deliveries = 0;
    for (const channel of channels) {
      const cursors = this.#byChannel.get(channel);
      if (!cursors) continue;
      for (const cursor of cursors) {
        if (offered) {
          if (offered.has(cursor)) continue;
          offered.add(cursor);
        }
        if (cursor.offer(event, makeFrame)) deliveries++;
      }
    }
    this.stats.delivered += deliveries;
    this.#options.onFanOut?.(event, deliveries);
  }

  resync(channels?: readonly string[]): void {
    if (channels === undefined) {
      for (const cursor of this.#rotation.all()) cursor.resync();
      return;
    }
    const affected = new Set<StreamCursor>();
    for (const channel of channels) for (const cursor of this.#byChannel.get(channel) ?? []) affected.add(cursor);
    for (const cursor of affected) cursor.resync();
  }

  /** From now on /readyz says not ready and new streams get 503; open streams go on. */
  refuseNewStreams(): void {
    this.#draining = true;
  }

  /**
   * Stops admitting streams and closes the open ones in batches spread over graceMs, each told
   * to come back after a random delay within that window (or within retryJitterMs, if longer:
   * a drain left little time, by a late signal or a load balancer about to cut, must not bring
   * every client back at once), so that a rolling deploy does not make every client reconnect
   * in the same second.
   */
  async drain(graceMs: number): Promise<void> {
    this.refuseNewStreams();
    const cursors = this.#rotation.all();
    const stepMs = 100;
    const steps = Math.max(1, Math.floor((graceMs * 0.8) / stepMs));
    const perStep = Math.ceil(cursors.length / steps);
    while (cursors.length > 0) {
      for (const cursor of cursors.splice(0, perStep)) {
        const retryMs = this.#options.retryMs + Math.random() * Math.max(graceMs, this.#options.retryJitterMs);
        cursor.end(Buffer.concat([controlFrame(DRAINING_EVENT, { retryMs: Math.round(retryMs) }), retryFrame(retryMs)]));
      }
      if (cursors.length > 0) await new Promise((resolve) => setTimeout(resolve, stepMs));
    }
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
    for (const cursor of this.#rotation.all()) cursor.destroy();
  }

  #refusal(userId: string): Refusal | undefined {
    if (this.#draining) return { status: 503, reason: "the gateway is shutting down", retryAfterSeconds: 1 };
    if (this.size >= this.#options.maxConnections) {
      return { status: 503, reason: "this gateway instance holds its maximum of streams", retryAfterSeconds: 5 };
    }
    if ((this.#perUser.get(userId) ?? 0) >= this.#options.maxConnectionsPerUser) {
      return { status: 429, reason: "too many open streams for this user", retryAfterSeconds: 10 };
    }
    return undefined;
  }

  #rateRefusal(waitSeconds: number): Refusal | undefined {
    if (waitSeconds === 0) return undefined;
    return { status: 429, reason: "this user opened too many streams in the last minute", retryAfterSeconds: waitSeconds };
  }

  #register(cursor: StreamCursor, request: StreamRequest): void {
    for (const channel of request.channels) {
      let cursors = this.#byChannel.get(channel);
      if (!cursors) this.#byChannel.set(channel, (cursors = new Set()));
      cursors.add(cursor);
    }
    this.#perUser.set(request.userId, (this.#perUser.get(request.userId) ?? 0) + 1);
    this.#rotation.add(cursor);
    if (request.expiresAt !== undefined) this.#expiry.add(cursor, request.expiresAt);
  }

  /** The one way out of the hub, whatever ended the stream (a cursor closes once). */
  #unregister(cursor: StreamCursor, why: CloseReason): void {
    const { userId } = cursor;
    if (why === "slow-client") this.stats.slowClientDisconnects++;
    for (const channel of cursor.channels) {
      const cursors = this.#byChannel.get(channel);
      if (!cursors) continue;
      cursors.delete(cursor);
      if (cursors.size === 0) {
        this.#byChannel.delete(channel);
        this.#bus.unwatch(channel);
      }
    }
    const count = (this.#perUser.get(userId) ?? 1) - 1;
    if (count === 0) this.#perUser.delete(userId);
    else this.#perUser.set(userId, count);
    this.#rotation.remove(cursor);
    this.#expiry.remove(cursor);
  }

  #heartbeatTick(): void {
    this.#rotation.advance((cursor) => cursor.writeFrame(HEARTBEAT_FRAME));
  }

  #expireTokens(): void {
    for (const cursor of this.#expiry.takeDue(this.#now() / 1000)) {
      cursor.end(controlFrame(TOKEN_EXPIRED_EVENT, { reason: "the access token expired; reconnect with a fresh one" }));
    }
  }
}
