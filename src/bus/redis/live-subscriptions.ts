import type { FastifyBaseLogger } from "fastify";
import type { RedisConfig } from "../../config/config.ts";
import type { Health } from "../../health.ts";
import { decodeLiveMessage, type LiveMessage } from "./event-codec.ts";
import type { RedisKeys } from "./keys.ts";
import { RedisLink } from "./redis-link.ts";

/** A subscriber connection that stops answering PINGs is replaced: catches half-open sockets. */
const PING_INTERVAL_MS = 5000;
/** Channels per SUBSCRIBE command when restoring many at once. */
const SUBSCRIBE_BATCH = 1000;

export interface LiveSubscriptionsOptions {
  /** A live message, in the order of the connection: id order. */
  readonly onMessage: (message: LiveMessage) => void;
  /** Every watched channel is subscribed again after the connection was down. */
  readonly onRestored: () => void;
  readonly onLost: () => void;
}

/**
 * The pub/sub connection: one SUBSCRIBE per channel some local stream watches, so an instance
 * receives only the events its streams need (README: "Live fan-out"). Messages on one connection
 * arrive in id order, since the publish script runs alone; ALL_EVENTS_CHANNEL is subscribed only
 * while a local stream watches it.
 */
export class LiveSubscriptions {
  readonly #link: RedisLink;
  readonly #keys: RedisKeys;
  readonly #options: LiveSubscriptionsOptions;
  readonly #log: FastifyBaseLogger;
  /** Watched channels, each with the confirmation of its SUBSCRIBE on the current connection. */
  readonly #wanted = new Map<string, Promise<void>>();
  readonly #pinger: NodeJS.Timeout;
  #restored = false;

  constructor(config: RedisConfig, keys: RedisKeys, log: FastifyBaseLogger, options: LiveSubscriptionsOptions) {
    this.#keys = keys;
    this.#options = options;
    this.#log = log;
    this.#link = new RedisLink(config, "subscriber", log, { autoResubscribe: false });
    this.#link.client.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    this.#link.onReady(() => void this.#restore());
    this.#link.onDown(() => {
      this.#restored = false;
      options.onLost();
    });
    this.#pinger = setInterval(() => this.#ping(), PING_INTERVAL_MS);
    this.#pinger.unref();
  }

  get healthy(): boolean {
    return this.#link.ready && this.#restored;
  }

  health(): Health {
    if (!this.#link.ready) return { ready: false, reason: this.#link.downReason };
    if (!this.#restored) return { ready: false, reason: "restoring Redis subscriptions after a reconnect" };
    return { ready: true };
  }

  /** Resolves once the channel's SUBSCRIBE is confirmed; watching twice is the same as once. */
  watch(channel: string): Promise<void> {
    let confirmed = this.#wanted.get(channel);
    if (!confirmed) {
      confirmed = this.#subscribe([channel]);
      this.#wanted.set(channel, confirmed);
    }
    return confirmed;
  }

  unwatch(channel: string): void {
    if (!this.#wanted.delete(channel) || !this.#link.ready) return;
    // A failed UNSUBSCRIBE only costs messages nobody reads, until the next reconnect.
    this.#link.client.unsubscribe(this.#keys.live(channel)).catch(() => undefined);
  }

  /** Waits for the SUBSCRIBEs of these channels still in flight: history is read only after them. */
  async confirmed(channels: readonly string[]): Promise<void> {
    await Promise.all(channels.map((channel) => this.#wanted.get(channel)));
  }

  async close(): Promise<void> {
    clearInterval(this.#pinger);
    await this.#link.close();
  }

  #subscribe(channels: readonly string[]): Promise<void> {
    const confirmed = this.#link.client.subscribe(...channels.map((channel) => this.#keys.live(channel))).then(
      () => undefined,
      (error: Error) => {
        // On a connection that is up, a failed SUBSCRIBE means it cannot be trusted: start over.
        if (this.#link.ready) this.#link.reconnect(`SUBSCRIBE failed: ${error.message}`);
        throw error;
      },
    );
    confirmed.catch(() => undefined); // callers see the failure; this only keeps it from going unhandled
    return confirmed;
  }

  async #restore(): Promise<void> {
    const channels = [...this.#wanted.keys()];
    try {
      for (let start = 0; start < channels.length; start += SUBSCRIBE_BATCH) {
        const batch = channels.slice(start, start + SUBSCRIBE_BATCH);
        const confirmed = this.#subscribe(batch);
        for (const channel of batch) if (this.#wanted.has(channel)) this.#wanted.set(channel, confirmed);
        await confirmed;
      }
    } catch {
      return; // the connection is being replaced; the next ready event restores again
    }
    if (!this.#link.ready) return;
    this.#restored = true;
    if (channels.length > 0) this.#log.info({ channels: channels.length }, "Redis subscriptions restored");
    this.#options.onRestored();
  }

  #onMessage(liveChannel: string, message: string): void {
    const decoded = decodeLiveMessage(message);
    if (!decoded) {
      this.#log.error({ channel: liveChannel }, "dropped a live message that is not in the gateway's format");
      return;
    }
    this.#options.onMessage(decoded);
  }

  #ping(): void {
    if (!this.#link.ready) return;
    this.#link.client.ping().catch((error: Error) => {
      if (this.#link.ready) this.#link.reconnect(`PING failed: ${error.message}`);
    });
  }
}
