import type { BusListener, EventBus } from "../bus/event-bus.ts";
import { comparePositions, formatEventId, type EventPosition } from "../events/event-id.ts";
import type { GatewayEvent } from "../events/event.ts";
import { ExpiryWheel } from "./expiry-wheel.ts";
import { HEARTBEAT_FRAME, controlFrame, eventFrame, retryFrame } from "./frames.ts";
import { HEARTBEAT_SLICES, Rotation } from "./heartbeat-rotation.ts";
import { OpenRate } from "./open-rate.ts";
import { Subscriber } from "./subscriber.ts";

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
}

export type Refusal = { readonly status: 429 | 503; readonly reason: string; readonly retryAfterSeconds: number };

/** How many streams read history at once after the bus comes back. */
const RESYNC_CONCURRENCY = 32;
/** One history read of a catch-up returns at most this much. */
const PAGE_LIMITS = { maxEvents: 500, maxBytes: 1 << 20 };

/** Control event types (README, "Control events"). */
export const REFETCH_EVENT = "gateway.refetch";
export const TOKEN_EXPIRED_EVENT = "gateway.token-expired";
export const DRAINING_EVENT = "gateway.draining";

/**
 * The live streams of this instance: admits them, catches them up from history, fans each
 * event out to the streams of its channels, keeps them alive with heartbeats and ends them on
 * token expiry or shutdown. It speaks to the outside only through EventBus and StreamSink.
 */
export class Hub implements BusListener {
  readonly stats = { delivered: 0, slowClientDisconnects: 0 };
  readonly #bus: EventBus;
  readonly #options: HubOptions;
  readonly #now: () => number;
  readonly #byChannel = new Map<string, Set<Subscriber>>();
  readonly #perUser = new Map<string, number>();
  readonly #rotation = new Rotation<Subscriber>(HEARTBEAT_SLICES);
  readonly #expiry: ExpiryWheel<Subscriber>;
  readonly #openRate: OpenRate;
  readonly #timers: NodeJS.Timeout[];
  #draining = false;

  constructor(bus: EventBus, options: HubOptions) {
    this.#bus = bus;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#expiry = new ExpiryWheel(this.#now() / 1000);
    this.#openRate = new OpenRate(options.maxOpensPerUserPerMinute, this.#now);
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

  /** Whether a new stream for this user may open now; a refusal says why and when to retry. */
  admit(userId: string): Refusal | undefined {
    if (this.#draining) return { status: 503, reason: "the gateway is shutting down", retryAfterSeconds: 1 };
    if (this.size >= this.#options.maxConnections) {
      return { status: 503, reason: "this gateway instance holds its maximum of streams", retryAfterSeconds: 5 };
    }
    if ((this.#perUser.get(userId) ?? 0) >= this.#options.maxConnectionsPerUser) {
      return { status: 429, reason: "too many open streams for this user", retryAfterSeconds: 10 };
    }
    const wait = this.#openRate.take(userId);
    if (wait > 0) return { status: 429, reason: "this user opened too many streams in the last minute", retryAfterSeconds: wait };
    return undefined;
  }

  /**
   * Starts serving a stream whose response head is already sent. With a resume position, the
   * events after it come first from history, then live ones, with no gap and no repeat.
   */
  async open(subscriber: Subscriber, resumeFrom?: EventPosition): Promise<void> {
    const newChannels = this.#register(subscriber);
    // Jittered per stream: an abrupt cut (a crash, the load balancer, a lost zone) ends many
    // streams at once, and their reconnects should not arrive at once.
    subscriber.sink.write(retryFrame(this.#options.retryMs + Math.random() * this.#options.retryJitterMs));
    // Without Last-Event-ID a stream starts at the newest id issued, wherever it was issued, so
    // that after a bus outage it is caught up from there and from nothing older. While the bus is
    // down, the local clock stands in for it (ids are milliseconds of clocks kept in sync).
    subscriber.position = resumeFrom ?? { ms: this.#now(), seq: 0 };
    // Asked for first: the bus keeps watching these channels even if it is down right now.
    const watching = Promise.all(newChannels.map((channel) => this.#bus.watch(channel)));
    watching.catch(() => {}); // a failure is handled below, once head() is known
    try {
      if (resumeFrom === undefined) subscriber.position = await this.#bus.head();
      await watching;
    } catch (error) {
      // The stream stays open and holds live events; the bus's resync catches it up later.
      this.#options.onError?.("starting a stream failed", error);
      return;
    }
    await this.#catchUp(subscriber);
  }

  deliver(event: GatewayEvent): void {
    let frame: Buffer | undefined;
    let deliveries = 0;
    for (const channel of event.channels) {
      const subscribers = this.#byChannel.get(channel);
      if (!subscribers) continue;
      for (const subscriber of subscribers) {
        if (subscriber.pending) subscriber.hold(event);
        else if (subscriber.isNew(event)) {
          frame ??= eventFrame(event);
          this.#write(subscriber, frame, event);
          deliveries++;
        }
      }
    }
    this.stats.delivered += deliveries;
    this.#options.onFanOut?.(event, deliveries);
  }

  resync(): void {
    const subscribers = [...this.#rotation.all()];
    for (const subscriber of subscribers) subscriber.pending ??= [];
    const next = async (): Promise<void> => {
      for (let subscriber = subscribers.pop(); subscriber; subscriber = subscribers.pop()) {
        if (!subscriber.closed) await this.#catchUp(subscriber);
      }
    };
    for (let i = 0; i < RESYNC_CONCURRENCY; i++) void next();
  }

  /** From now on /readyz says not ready and new streams get 503; open streams go on. */
  refuseNewStreams(): void {
    this.#draining = true;
  }

  /**
   * Stops admitting streams and closes the open ones in batches spread over graceMs, each told
   * to come back after a random delay within that window, so that a rolling deploy does not
   * make every client reconnect in the same second.
   */
  async drain(graceMs: number): Promise<void> {
    this.refuseNewStreams();
    const subscribers = [...this.#rotation.all()];
    const stepMs = 100;
    const steps = Math.max(1, Math.floor((graceMs * 0.8) / stepMs));
    const perStep = Math.ceil(subscribers.length / steps);
    while (subscribers.length > 0) {
      for (const subscriber of subscribers.splice(0, perStep)) {
        const retryMs = this.#options.retryMs + Math.random() * graceMs;
        subscriber.sink.end(
          Buffer.concat([controlFrame(DRAINING_EVENT, { retryMs: Math.round(retryMs) }), retryFrame(retryMs)]),
        );
      }
      if (subscribers.length > 0) await new Promise((resolve) => setTimeout(resolve, stepMs));
    }
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
    for (const subscriber of [...this.#rotation.all()]) subscriber.sink.destroy();
  }

  #register(subscriber: Subscriber): string[] {
    const newChannels: string[] = [];
    for (const channel of subscriber.channels) {
      let subscribers = this.#byChannel.get(channel);
      if (!subscribers) {
        this.#byChannel.set(channel, (subscribers = new Set()));
        newChannels.push(channel);
      }
      subscribers.add(subscriber);
    }
    this.#perUser.set(subscriber.userId, (this.#perUser.get(subscriber.userId) ?? 0) + 1);
    this.#rotation.add(subscriber);
    if (subscriber.expiresAt !== undefined) this.#expiry.add(subscriber, subscriber.expiresAt);
    subscriber.sink.onClose(() => this.#unregister(subscriber));
    return newChannels;
  }

  #unregister(subscriber: Subscriber): void {
    if (subscriber.closed) return;
    subscriber.closed = true;
    subscriber.pending = undefined;
    for (const channel of subscriber.channels) {
      const subscribers = this.#byChannel.get(channel);
      if (!subscribers) continue;
      subscribers.delete(subscriber);
      if (subscribers.size === 0) {
        this.#byChannel.delete(channel);
        this.#bus.unwatch(channel);
      }
    }
    const count = (this.#perUser.get(subscriber.userId) ?? 1) - 1;
    if (count === 0) this.#perUser.delete(subscriber.userId);
    else this.#perUser.set(subscriber.userId, count);
    this.#rotation.remove(subscriber);
    this.#expiry.remove(subscriber);
  }

  /** Reads history after the stream's position, writes it, then the live events held meanwhile. */
  async #catchUp(subscriber: Subscriber): Promise<void> {
    if (subscriber.catchingUp) {
      subscriber.catchUpAgain = true;
      return;
    }
    subscriber.catchingUp = true;
    try {
      do {
        subscriber.catchUpAgain = false;
        subscriber.pendingOverflowed = false;
        let history = await this.#bus.readPage(subscriber.channels, subscriber.position, PAGE_LIMITS);
        if (subscriber.closed) return;
        while (history.complete && history.more) {
          for (const event of history.events) {
            if (subscriber.isNew(event)) this.#write(subscriber, eventFrame(event), event);
          }
          history = await this.#bus.readPage(subscriber.channels, subscriber.position, PAGE_LIMITS);
          if (subscriber.closed) return;
        }
        if (!history.complete) {
          subscriber.position = history.head;
          this.#write(subscriber, controlFrame(REFETCH_EVENT, { reason: "history-gap" }, formatEventId(history.head)));
        } else {
          for (const event of history.events) {
            if (subscriber.isNew(event)) this.#write(subscriber, eventFrame(event), event);
          }
          // A position ahead of everything ever issued is not the client's to claim.
          if (comparePositions(subscriber.position, history.head) > 0) subscriber.position = history.head;
        }
      } while ((subscriber.catchUpAgain || subscriber.pendingOverflowed) && !subscriber.closed);
      this.#goLive(subscriber);
    } catch (error) {
      // Still holding live events; the bus's resync will try again once it is back.
      this.#options.onError?.("catching a stream up from history failed", error);
    } finally {
      subscriber.catchingUp = false;
    }
  }

  #goLive(subscriber: Subscriber): void {
    const held = subscriber.pending ?? [];
    subscriber.pending = undefined;
    for (const event of held) {
      if (subscriber.isNew(event)) this.#write(subscriber, eventFrame(event), event);
    }
  }

  #write(subscriber: Subscriber, frame: Buffer, position?: EventPosition): void {
    if (subscriber.closed) return;
    subscriber.sink.write(frame);
    if (position) subscriber.position = position;
    subscriber.lastWriteTick = this.#rotation.tick;
    if (subscriber.sink.bufferedBytes > this.#options.maxBufferBytes) {
      this.stats.slowClientDisconnects++;
      this.#unregister(subscriber);
      subscriber.sink.destroy();
    }
  }

  #heartbeatTick(): void {
    this.#rotation.advance((subscriber) => this.#write(subscriber, HEARTBEAT_FRAME));
  }

  #expireTokens(): void {
    for (const subscriber of this.#expiry.takeDue(this.#now() / 1000)) {
      subscriber.sink.end(controlFrame(TOKEN_EXPIRED_EVENT, { reason: "the access token expired; reconnect with a fresh one" }));
      this.#unregister(subscriber);
    }
  }
}
