import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { BusUnavailableError } from "../bus/event-bus.ts";
import { InstanceHeartbeat, NOW_MS } from "../bus/redis/instance-registry.ts";
import { RedisKeys } from "../bus/redis/keys.ts";
import { RedisLink } from "../bus/redis/redis-link.ts";
import type { RedisConfig } from "../config/config.ts";
import { parsePublishRequest, toEventDraft } from "../events/publish-request.ts";
import type { EventDraft } from "../events/event.ts";
import type { Publisher } from "../events/publisher.ts";
import type { Health } from "../health.ts";
import type { IngestSource } from "./ingest-source.ts";

/** How often an instance tells the registry it lives, and how long a silence means it died. */
const HEARTBEAT_MS = 10_000;
const DEAD_AFTER_MS = 30_000;
/** How often each instance looks in the registry for instances that died. */
const RECOVERY_INTERVAL_MS = 10_000;
/** Dead instances whose entries one recovery run takes back, at most. */
const RECOVERY_BATCH = 100;
const RETRY_MS = 500;
/** While stopping, how long an entry whose event was accepted may take to be removed. */
const SETTLE_ON_STOP_MS = 5000;

/**
 * KEYS: the registry, the inbox. ARGV: the processing-list prefix, dead after ms, batch size.
 * Moves the entries of instances silent for too long back to the inbox, oldest to the consuming
 * end, and forgets those instances. Returns { instances, entries }.
 */
const RECOVER_SCRIPT = `${NOW_MS}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])), 'LIMIT', 0, tonumber(ARGV[3]))
local moved = 0
for _, instance in ipairs(dead) do
  while redis.call('LMOVE', ARGV[1] .. instance, KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
  redis.call('ZREM', KEYS[1], instance)
end
return { #dead, moved }
`;

/** KEYS: the registry, this instance's processing list, the inbox. ARGV: this instance. For a stop. */
const HAND_BACK_SCRIPT = `
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('ZREM', KEYS[1], ARGV[1])
return moved
`;

/** Why an entry went to the dead-letter list, as counted in metrics. */
export type InboxDeadLetterReason = "invalid" | "rejected";

/** The inbox's counters; the metrics module implements it. */
export interface RedisInboxObserver {
  deadLettered(reason: InboxDeadLetterReason): void;
}

export interface RedisInboxOptions {
  readonly config: RedisConfig;
  readonly publisher: Publisher;
  readonly maxEventBytes: number;
  readonly log: FastifyBaseLogger;
  readonly observer: RedisInboxObserver;
}

type Scripts = Record<"gatewayInboxRecover" | "gatewayInboxHandBack", (...args: (string | number)[]) => Promise<unknown>>;

/**
 * A second way in for back ends inside the network: they LPUSH a publish body (the JSON of
 * POST /publish) onto the inbox list. Each entry is taken by one instance with BLMOVE into that
 * instance's processing list and removed only once the bus accepted it, so an instance that dies
 * mid-way loses nothing: the registry of instances shows it silent, and its list goes back to the
 * inbox. A transient failure (Redis down) is retried; an entry that can never be published (not
 * a valid body, or refused by the bus) goes to the dead-letter list as it came, logged once with
 * the reason and counted, and the entries behind it keep flowing.
 */
export class RedisInbox implements IngestSource {
  readonly name = "redis-inbox";
  readonly #options: RedisInboxOptions;
  readonly #keys: RedisKeys;
  readonly #link: RedisLink;
  readonly #instanceId = randomUUID();
  readonly #processing: string;
  readonly #blockSeconds: number;
  #recovery?: NodeJS.Timeout;
  readonly #scripts: Scripts;
  readonly #heartbeat: InstanceHeartbeat;
  #running = false;
  #connectedBefore = false;
  #loop?: Promise<void>;

  constructor(options: RedisInboxOptions) {
    this.#options = options;
    this.#keys = new RedisKeys(options.config.keyPrefix);
    this.#processing = this.#keys.inboxProcessing(this.#instanceId);
    // The block ends well within the command timeout, so a reply that never comes means a dead socket.
    this.#blockSeconds = options.config.commandTimeoutMs / 2000;
    this.#link = new RedisLink(options.config, "inbox", options.log);
    this.#link.client.defineCommand("gatewayInboxRecover", { numberOfKeys: 2, lua: RECOVER_SCRIPT });
    this.#link.client.defineCommand("gatewayInboxHandBack", { numberOfKeys: 3, lua: HAND_BACK_SCRIPT });
    this.#scripts = this.#link.client as unknown as Scripts;
    this.#heartbeat = new InstanceHeartbeat(this.#link, {
      registry: this.#keys.inboxInstances,
      instanceId: this.#instanceId,
      intervalMs: HEARTBEAT_MS,
      leaseMs: DEAD_AFTER_MS,
    });
    this.#link.onReady(() => void this.#onReady());
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#consume();
    this.#heartbeat.start();
    this.#recovery = setInterval(() => void this.#recoverAbandoned(), RECOVERY_INTERVAL_MS);
    this.#recovery.unref();
  }

  /** Takes no new entry, finishes the one in flight (its removal included), then leaves the registry. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#heartbeat.stop();
    clearInterval(this.#recovery);
    await this.#loop;
    if (this.#link.ready) {
      // Only an entry whose publish failed while stopping is still held: the other instances take it.
      await this.#scripts.gatewayInboxHandBack(this.#keys.inboxInstances, this.#processing, this.#keys.inbox, this.#instanceId).catch(() => undefined);
    }
    await this.#link.close();
  }

  health(): Health {
    return this.#link.ready ? { ready: true } : { ready: false, reason: this.#link.downReason };
  }

  async #consume(): Promise<void> {
    while (this.#running) {
      if (!this.#link.ready) {
        await sleep(RETRY_MS);
        continue;
      }
      let entry: string | null;
      try {
        entry = await this.#link.client.blmove(this.#keys.inbox, this.#processing, "RIGHT", "LEFT", this.#blockSeconds);
      } catch (error) {
        if (this.#link.ready) this.#link.reconnect(`BLMOVE failed: ${(error as Error).message}`);
        await sleep(RETRY_MS);
        continue;
      }
      if (entry !== null) await this.#settle(entry);
    }
  }

  /**
   * Publishes the entry (retrying while the bus is unavailable) or dead-letters it, then takes it
   * off the processing list. Once its event is accepted the removal is finished even while
   * stopping: put back, it would be published again by another instance.
   */
  async #settle(entry: string): Promise<void> {
    let draft: EventDraft;
    try {
      draft = toEventDraft(parsePublishRequest(JSON.parse(entry)), this.#options.maxEventBytes);
    } catch (error) {
      await this.#finish(() => this.#deadLetter(entry, "invalid", (error as Error).message));
      return;
    }
    let refusal: string | undefined;
    const published = await this.#retryWhileRunning(async () => {
      try {
        await this.#options.publisher.publish(draft, "redis");
      } catch (error) {
        if (error instanceof BusUnavailableError) throw error;
        refusal = (error as Error).message;
      }
    });
    if (!published) return;
    if (refusal !== undefined) await this.#finish(() => this.#deadLetter(entry, "rejected", refusal!));
    else await this.#finish(() => this.#link.client.lrem(this.#processing, 1, entry));
  }

  async #deadLetter(entry: string, reason: "invalid" | "rejected", detail: string): Promise<void> {
    await this.#link.client.multi().lpush(this.#keys.inboxDead, entry).lrem(this.#processing, 1, entry).exec();
    this.#options.observer.deadLettered(reason);
    this.#options.log.warn({ reason, detail, entry: entry.slice(0, 200) }, "Redis inbox entry moved to the dead-letter list");
  }

  /** Tries a step at least once, and again while running (the entry then waits in the processing list). */
  async #retryWhileRunning(step: () => Promise<unknown>): Promise<boolean> {
    for (;;) {
      try {
        await step();
        return true;
      } catch {
        if (!this.#running) return false;
        await sleep(RETRY_MS);
      }
    }
  }

  /** A step that must not be left half-done: retried while running, and for a while after a stop. */
  async #finish(step: () => Promise<unknown>): Promise<void> {
    let stoppedAt: number | undefined;
    for (;;) {
      try {
        await step();
        return;
      } catch {
        if (!this.#running) stoppedAt ??= Date.now();
        if (stoppedAt !== undefined && Date.now() - stoppedAt > SETTLE_ON_STOP_MS) return;
        await sleep(RETRY_MS);
      }
    }
  }

  /**
   * Recovers at once only on the first connection: after an outage every instance's heartbeat is
   * stale until it reconnects too, so a reconnected instance leaves that to the next regular run.
   */
  async #onReady(): Promise<void> {
    await this.#heartbeat.beat();
    if (this.#running && !this.#connectedBefore) await this.#recoverAbandoned();
    this.#connectedBefore = true;
  }

  async #recoverAbandoned(): Promise<void> {
    if (!this.#link.ready) return;
    try {
      const [instances, entries] = (await this.#scripts.gatewayInboxRecover(
        this.#keys.inboxInstances,
        this.#keys.inbox,
        this.#keys.inboxProcessing(""),
        DEAD_AFTER_MS,
        RECOVERY_BATCH,
      )) as [number, number];
      if (instances > 0) this.#options.log.warn({ instances, entries }, "returned stopped instances' inbox entries to the inbox");
    } catch (error) {
      this.#options.log.warn({ err: (error as Error).message }, "looking for abandoned inbox entries failed");
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
