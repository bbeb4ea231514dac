import type { FastifyBaseLogger } from "fastify";
import { Redis, type RedisOptions } from "ioredis";
import type { RedisConfig } from "../../config/config.ts";
import { redactUrl } from "../../config/env-reader.ts";

/** First reconnect delay, and the most a reconnect waits (plus jitter, so instances spread out). */
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2000;
/** Idle time before the OS starts TCP keepalive probes: finds peers that vanished without a FIN. */
const TCP_KEEPALIVE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5000;

/**
 * One ioredis connection and whether it is usable now. Commands fail at once while it is down
 * (no offline queue, no resend after a reconnect), so a caller is never held up by a missing
 * Redis and a command is never run twice behind its back.
 */
export class RedisLink {
  readonly client: Redis;
  readonly #role: string;
  readonly #log: FastifyBaseLogger;
  readonly #redactedUrl: string;
  readonly #readyListeners: (() => void)[] = [];
  readonly #downListeners: (() => void)[] = [];
  #ready = false;
  #lastError = "not connected yet";
  #wasReady = false;

  constructor(config: RedisConfig, role: string, log: FastifyBaseLogger, options: RedisOptions = {}) {
    this.#role = role;
    this.#log = log;
    this.#redactedUrl = redactUrl(config.url);
    this.client = new Redis(config.url, {
      connectionName: `sse-gateway:${role}`,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.commandTimeoutMs,
      connectTimeout: CONNECT_TIMEOUT_MS,
      keepAlive: TCP_KEEPALIVE_MS,
      retryStrategy: (attempt) => Math.min(RECONNECT_BASE_MS * 2 ** Math.min(attempt, 5), RECONNECT_MAX_MS) + Math.random() * 100,
      ...options,
    });
    this.client.on("ready", () => this.#onReady());
    this.client.on("error", (error: Error) => this.#onError(error));
    this.client.on("close", () => this.#onClose());
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Why the connection is down, for /readyz. */
  get downReason(): string {
    return `Redis ${this.#role} connection to ${this.#redactedUrl} is down: ${this.#lastError}`;
  }

  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
  }

  onDown(listener: () => void): void {
    this.#downListeners.push(listener);
  }

  /** Drops the socket and connects again: for a connection that stopped answering. */
  reconnect(reason: string): void {
    this.#lastError = reason;
    this.#log.warn({ role: this.#role, reason }, "Redis connection stopped answering; reconnecting");
    this.client.disconnect(true);
  }

  async close(): Promise<void> {
    this.#ready = false;
    this.client.disconnect(false);
  }

  #onReady(): void {
    this.#ready = true;
    this.#lastError = "connection closed";
    this.#log.info({ role: this.#role, reconnected: this.#wasReady }, "Redis connection ready");
    this.#wasReady = true;
    for (const listener of this.#readyListeners) listener();
  }

  #onError(error: Error): void {
    // ioredis reports every failed reconnect; one log line per outage is enough.
    if (this.#lastError !== error.message) this.#log.warn({ role: this.#role, err: error.message }, "Redis connection error");
    this.#lastError = error.message;
  }

  #onClose(): void {
    if (!this.#ready) return;
    this.#ready = false;
    this.#log.warn({ role: this.#role }, "Redis connection lost");
    for (const listener of this.#downListeners) listener();
  }
}
