import type { FastifyBaseLogger } from "fastify";
import type { RedisConfig } from "../config/config.ts";
import { ORIGIN, formatEventId, parseEventId, type EventPosition } from "../events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../events/event.ts";
import type { Health } from "../health.ts";
import {
  ALL_EVENTS_CHANNEL,
  BusUnavailableError,
  IdempotencyConflictError,
  type BusListener,
  type EventBus,
  type HistoryPage,
  type PageLimits,
  type PublishResult,
} from "./event-bus.ts";
import { decodeStoredEvent, joinChannels } from "./redis/event-codec.ts";
import { RedisKeys } from "./redis/keys.ts";
import { LiveAssembler } from "./redis/live-assembler.ts";
import { LiveSubscriptions } from "./redis/live-subscriptions.ts";
import { RedisLink } from "./redis/redis-link.ts";
import { toBusError } from "./redis/redis-errors.ts";
import { HEAD_SCRIPT, PUBLISH_SCRIPT, READ_SCRIPT, TRIM_STEP } from "./redis/scripts.ts";
import type { RetentionOptions } from "./retention.ts";

/** Commands waiting for Redis at once; past this a slow Redis gets 503s instead of a growing queue. */
const MAX_IN_FLIGHT = 1000;
/** After live events were lost on a healthy connection, streams are caught up this much later. */
const RESYNC_RETRY_MS = 1000;

type ScriptRunner = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/** What the publish script answers in its second field. */
const REPEATED = 1;
const CONFLICTING = 2;
/** What the read script answers in its first field. */
const NO_EPOCH = -1;
const COMPLETE = 1;

/**
 * The bus of a gateway made of several instances: events, history and ids live in Redis, live
 * events travel over Redis pub/sub. Each event is stored once under its id; histories (one per
 * channel, and the global log) hold ids. One connection runs commands and scripts, another holds
 * the subscriptions. When either comes back after an outage, every open stream is caught up from
 * history (listener.resync), so what was published meanwhile still arrives, once and in order.
 */
export class RedisBus implements EventBus {
  readonly #keys: RedisKeys;
  readonly #retention: RetentionOptions;
  readonly #log: FastifyBaseLogger;
  readonly #commands: RedisLink;
  readonly #live: LiveSubscriptions;
  readonly #assembler: LiveAssembler;
  readonly #publishScript: ScriptRunner;
  readonly #readScript: ScriptRunner;
  readonly #headScript: ScriptRunner;
  #listener?: BusListener;
  #inFlight = 0;
  /** Streams need catching up from history (live delivery was interrupted). */
  #needsResync = true;
  /**
   * Live delivery was interrupted (the subscriber connection was lost, or a live event could not
   * be fetched) and streams have not been caught up since. Live events
   * that arrive meanwhile are left to the catch-up, which finds them in history (an event is
   * stored before it is published): delivered now, they would move a stream's position past
   * events it missed during the outage.
   */
  #liveInterrupted = true;
  #resyncTimer?: NodeJS.Timeout;

  constructor(config: RedisConfig, retention: RetentionOptions, log: FastifyBaseLogger) {
    this.#keys = new RedisKeys(config.keyPrefix);
    this.#retention = retention;
    this.#log = log;
    this.#commands = new RedisLink(config, "commands", log);
    this.#commands.client.defineCommand("gatewayPublish", { lua: PUBLISH_SCRIPT });
    this.#commands.client.defineCommand("gatewayRead", { lua: READ_SCRIPT });
    this.#commands.client.defineCommand("gatewayHead", { lua: HEAD_SCRIPT });
    const scripts = this.#commands.client as unknown as Record<"gatewayPublish" | "gatewayRead" | "gatewayHead", ScriptRunner>;
    this.#publishScript = scripts.gatewayPublish.bind(this.#commands.client);
    this.#readScript = scripts.gatewayRead.bind(this.#commands.client);
    this.#headScript = scripts.gatewayHead.bind(this.#commands.client);
    this.#commands.onReady(() => this.#resyncIfDue());
    this.#commands.onDown(() => (this.#needsResync = true));
    this.#assembler = new LiveAssembler({
      fetch: (ids) => this.#run("fetching live events", () => this.#commands.client.mget(ids.map((id) => this.#keys.eventPrefix + id))),
      decode: decodeStoredEvent,
      deliver: (event) => {
        if (!this.#liveInterrupted) this.#listener?.deliver(event);
      },
      onGap: (reason) => {
        this.#log.warn({ reason }, "live events were lost on the way; streams catch up from history");
        this.#interruptLive();
        this.#scheduleResync();
      },
    });
    this.#live = new LiveSubscriptions(config, this.#keys, log, {
      onMessage: (message) => this.#assembler.accept(message),
      onRestored: () => this.#resyncIfDue(),
      onLost: () => {
        this.#assembler.reset();
        this.#interruptLive();
      },
    });
  }

  attach(listener: BusListener): void {
    this.#listener = listener;
  }

  async publish(draft: EventDraft): Promise<PublishResult> {
    const key = draft.idempotencyKey;
    const histories = [ALL_EVENTS_CHANNEL, ...draft.channels];
    const [id, outcome] = (await this.#run("publishing", () =>
      this.#publishScript(
        3 + 2 * histories.length,
        this.#keys.lastId,
        this.#keys.epoch,
        key === undefined ? this.#keys.lastId : this.#keys.idempotency(key),
        ...histories.flatMap((channel) => [this.#keys.history(channel), this.#keys.trimmed(channel)]),
        key === undefined ? "0" : "1",
        this.#retention.maxEvents,
        this.#retention.maxAgeMs,
        this.#retention.idempotencyWindowMs,
        draft.type,
        draft.dataJson,
        joinChannels(draft.channels),
        draft.fingerprint ?? "",
        this.#keys.eventPrefix,
        TRIM_STEP,
        ...histories.map((channel) => this.#keys.live(channel)),
      ),
    )) as [string, number];
    if (outcome === CONFLICTING) throw new IdempotencyConflictError(id);
    return { id, duplicate: outcome === REPEATED };
  }

  async readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage> {
    try {
      // Live events of these channels must flow before history is read, or some could fall between.
      await this.#live.confirmed(channels);
    } catch (error) {
      throw new BusUnavailableError(`Redis subscription failed: ${(error as Error).message}`);
    }
    const [complete, head, more, ...found] = (await this.#run("reading history", () =>
      this.#readScript(
        2 + 2 * channels.length,
        this.#keys.lastId,
        this.#keys.epoch,
        ...channels.flatMap((channel) => [this.#keys.history(channel), this.#keys.trimmed(channel)]),
        formatEventId(after),
        this.#retention.maxAgeMs,
        Math.max(1, limits.maxEvents),
        limits.maxBytes,
        this.#keys.eventPrefix,
      ),
    )) as [number, string | null, number?, ...string[]];
    // A new data set (Redis lost its data, or nothing was ever published): it starts here.
    if (complete === NO_EPOCH) return { events: [], complete: false, more: false, head: await this.head() };
    const headPosition = (head && parseEventId(head)) || ORIGIN;
    if (complete !== COMPLETE) return { events: [], complete: false, more: false, head: headPosition };
    const events: GatewayEvent[] = [];
    for (let i = 0; i + 1 < found.length; i += 2) {
      const event = decodeStoredEvent(found[i]!, found[i + 1]!);
      if (event) events.push(event);
    }
    return { events, complete: true, more: more === 1, head: headPosition };
  }

  async head(): Promise<EventPosition> {
    const head = (await this.#run("reading the last id", () => this.#headScript(2, this.#keys.lastId, this.#keys.epoch))) as string | null;
    return (head && parseEventId(head)) || ORIGIN;
  }

  async findByIdempotencyKey(idempotencyKey: string): Promise<string | undefined> {
    const stored = await this.#run("looking up an idempotency key", () => this.#commands.client.get(this.#keys.idempotency(idempotencyKey)));
    // The value is "<event id>\n<fingerprint>" (keys.ts); the key expires with the window.
    return stored === null ? undefined : stored.split("\n", 1)[0];
  }

  watch(channel: string): Promise<void> {
    return this.#live.watch(channel);
  }

  unwatch(channel: string): void {
    this.#live.unwatch(channel);
  }

  health(): Health {
    if (!this.#commands.ready) return { ready: false, reason: this.#commands.downReason };
    return this.#live.health();
  }

  async close(): Promise<void> {
    clearTimeout(this.#resyncTimer);
    await Promise.all([this.#live.close(), this.#commands.close()]);
  }

  /**
   * Runs one Redis command for a caller that may retry: fails fast while Redis is down or slow,
   * and says whether a failure is worth retrying (BusUnavailableError) or not (BusRejectedError).
   */
  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    if (!this.#commands.ready) throw new BusUnavailableError(this.#commands.downReason);
    if (this.#inFlight >= MAX_IN_FLIGHT) throw new BusUnavailableError(`Redis is not keeping up: ${MAX_IN_FLIGHT} commands are waiting`);
    this.#inFlight++;
    try {
      return await command();
    } catch (error) {
      throw toBusError(what, error);
    } finally {
      this.#inFlight--;
    }
  }

  #interruptLive(): void {
    this.#needsResync = true;
    this.#liveInterrupted = true;
  }

  /** Catches every stream up once both connections work again after an interruption. */
  #resyncIfDue(): void {
    if (!this.#needsResync || !this.#commands.ready || !this.#live.healthy) return;
    this.#needsResync = false;
    this.#liveInterrupted = false;
    // resync() marks every stream as catching up before it returns: live events are held from now.
    this.#listener?.resync();
  }

  /** Live events were lost with both connections up: catch up a little later, at most once a second. */
  #scheduleResync(): void {
    this.#needsResync = true;
    if (this.#resyncTimer) return;
    this.#resyncTimer = setTimeout(() => {
      this.#resyncTimer = undefined;
      this.#resyncIfDue();
    }, RESYNC_RETRY_MS);
    this.#resyncTimer.unref();
  }
}
