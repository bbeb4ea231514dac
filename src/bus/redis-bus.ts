import type { FastifyBaseLogger } from "fastify";
import { ReplyError } from "ioredis";
import type { RedisConfig } from "../config/config.ts";
import { ORIGIN, comparePositions, formatEventId, parseEventId, type EventPosition } from "../events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../events/event.ts";
import type { Health } from "../health.ts";
import { BusUnavailableError, type BusListener, type EventBus, type HistoryPage, type PageLimits, type PublishResult } from "./event-bus.ts";
import { decodeStreamEntry, joinChannels, type StreamEntry } from "./redis/event-codec.ts";
import { RedisKeys } from "./redis/keys.ts";
import { LiveSubscriptions } from "./redis/live-subscriptions.ts";
import { RedisLink } from "./redis/redis-link.ts";
import { HEAD_SCRIPT, PUBLISH_SCRIPT, READ_SCRIPT } from "./redis/scripts.ts";
import type { RetentionOptions } from "./retention.ts";

/** Commands waiting for Redis at once; past this a slow Redis gets 503s instead of a growing queue. */
const MAX_IN_FLIGHT = 1000;
/** After a failed history read on a healthy connection, streams are caught up again this much later. */
const RESYNC_RETRY_MS = 1000;

type ScriptRunner = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/**
 * The bus of a gateway made of several instances: history and ids live in Redis, live events
 * travel over Redis pub/sub. One connection runs commands and scripts, another holds the
 * subscriptions. When either comes back after an outage, every open stream is caught up from
 * history (listener.resync), so what was published meanwhile still arrives, once and in order.
 */
export class RedisBus implements EventBus {
  readonly #keys: RedisKeys;
  readonly #retention: RetentionOptions;
  readonly #log: FastifyBaseLogger;
  readonly #commands: RedisLink;
  readonly #live: LiveSubscriptions;
  readonly #publishScript: ScriptRunner;
  readonly #readScript: ScriptRunner;
  readonly #headScript: ScriptRunner;
  #listener?: BusListener;
  #inFlight = 0;
  /** Streams need catching up from history (live delivery or a history read failed). */
  #needsResync = true;
  /**
   * The subscriber connection was lost and streams have not been caught up since. Live events
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
    this.#live = new LiveSubscriptions(config, this.#keys, log, {
      onEvent: (event) => {
        if (!this.#liveInterrupted) this.#listener?.deliver(event);
      },
      onRestored: () => this.#resyncIfDue(),
      onLost: () => {
        this.#needsResync = true;
        this.#liveInterrupted = true;
      },
    });
  }

  attach(listener: BusListener): void {
    this.#listener = listener;
  }

  async publish(draft: EventDraft): Promise<PublishResult> {
    const key = draft.idempotencyKey;
    const reply = (await this.#run("publishing", () =>
      this.#publishScript(
        3 + draft.channels.length,
        this.#keys.lastId,
        this.#keys.epoch,
        key === undefined ? this.#keys.lastId : this.#keys.idempotency(key),
        ...draft.channels.map((channel) => this.#keys.history(channel)),
        key === undefined ? "0" : "1",
        this.#retention.maxEvents,
        this.#retention.maxAgeMs,
        this.#retention.idempotencyWindowMs,
        draft.type,
        draft.dataJson,
        joinChannels(draft.channels),
        ...draft.channels.map((channel) => this.#keys.live(channel)),
      ),
    )) as [string, number];
    return { id: reply[0], duplicate: reply[1] === 1 };
  }

  async readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage> {
    try {
      // Live events of these channels must flow before history is read, or some could fall between.
      await this.#live.confirmed(channels);
      const reply = (await this.#run("reading history", () =>
        this.#readScript(
          2 + channels.length,
          this.#keys.lastId,
          this.#keys.epoch,
          ...channels.map((channel) => this.#keys.history(channel)),
          formatEventId(after),
          this.#retention.maxEvents,
          this.#retention.maxAgeMs,
        ),
      )) as [number, string | null, ...StreamEntry[][]];
      return toHistoryPage(reply, limits);
    } catch (error) {
      this.#scheduleResync();
      throw error instanceof BusUnavailableError ? error : new BusUnavailableError(`Redis subscription failed: ${(error as Error).message}`);
    }
  }

  async head(): Promise<EventPosition> {
    const head = (await this.#run("reading the last id", () => this.#headScript(2, this.#keys.lastId, this.#keys.epoch))) as string | null;
    return (head && parseEventId(head)) || ORIGIN;
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

  /** Runs one Redis command for a caller that may retry: fails fast while Redis is down or slow. */
  async #run(what: string, command: () => Promise<unknown>): Promise<unknown> {
    if (!this.#commands.ready) throw new BusUnavailableError(this.#commands.downReason);
    if (this.#inFlight >= MAX_IN_FLIGHT) throw new BusUnavailableError(`Redis is not keeping up: ${MAX_IN_FLIGHT} commands are waiting`);
    this.#inFlight++;
    try {
      return await command();
    } catch (error) {
      if (error instanceof ReplyError) this.#log.error({ err: error }, "Redis refused a gateway script");
      throw new BusUnavailableError(`${what} in Redis failed: ${(error as Error).message}`);
    } finally {
      this.#inFlight--;
    }
  }

  /** Catches every stream up once both connections work again after an interruption. */
  #resyncIfDue(): void {
    if (!this.#needsResync || !this.#commands.ready || !this.#live.healthy) return;
    this.#needsResync = false;
    this.#liveInterrupted = false;
    // resync() marks every stream as catching up before it returns: live events are held from now.
    this.#listener?.resync();
  }

  /** A read failed with Redis still connected (slow, or a subscription replaced): try again soon. */
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

function toHistoryPage([complete, head, ...perChannel]: [number, string | null, ...StreamEntry[][]], limits: PageLimits): HistoryPage {
  const headPosition = (head && parseEventId(head)) || ORIGIN;
  if (complete !== 1) return { events: [], complete: false, more: false, head: headPosition };
  const found = new Map<string, GatewayEvent>();
  for (const entries of perChannel) {
    for (const entry of entries) {
      const event = decodeStreamEntry(entry);
      if (event) found.set(event.id, event);
    }
  }
  const events = [...found.values()].sort(comparePositions);
  const page = events.slice(0, limits.maxEvents);
  return { events: page, complete: true, more: page.length < events.length, head: headPosition };
}
