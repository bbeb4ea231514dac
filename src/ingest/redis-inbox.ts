import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { BusUnavailableError } from "../bus/event-bus.ts";
import { RedisKeys } from "../bus/redis/keys.ts";
import { RedisLink } from "../bus/redis/redis-link.ts";
import type { RedisConfig } from "../config/config.ts";
import { parsePublishRequest, toEventDraft } from "../events/publish-request.ts";
import type { EventDraft } from "../events/event.ts";
import type { Publisher } from "../events/publisher.ts";
import type { Health } from "../health.ts";
import type { IngestSource } from "./ingest-source.ts";

/** How long an instance's processing list survives it; after that another instance takes it back. */
const ALIVE_TTL_MS = 30_000;
const ALIVE_REFRESH_MS = 10_000;
/** How often each instance looks for processing lists of instances that died. */
const RECOVERY_INTERVAL_MS = 10_000;
const RETRY_MS = 500;

/** Moves a dead instance's entries back to the inbox, oldest to the consuming end; none if it lives. */
const RECOVER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
`;

export interface RedisInboxOptions {
  readonly config: RedisConfig;
  readonly publisher: Publisher;
  readonly maxEventBytes: number;
  readonly log: FastifyBaseLogger;
}

/**
 * A second way in for back ends inside the network: they LPUSH a publish body (the JSON of
 * POST /publish) onto the inbox list. Each entry is taken by one instance with BLMOVE into that
 * instance's processing list and removed only once the bus accepted it, so an instance that dies
 * mid-way loses nothing: its list goes back to the inbox. Entries that can never be published
 * go to the dead-letter list as they came, with the reason logged.
 */
export class RedisInbox implements IngestSource {
  readonly name = "redis-inbox";
  readonly #options: RedisInboxOptions;
  readonly #keys: RedisKeys;
  readonly #link: RedisLink;
  readonly #processing: string;
  readonly #alive: string;
  readonly #blockSeconds: number;
  readonly #timers: NodeJS.Timeout[] = [];
  #running = false;
  #loop?: Promise<void>;

  constructor(options: RedisInboxOptions) {
    this.#options = options;
    this.#keys = new RedisKeys(options.config.keyPrefix);
    const instanceId = randomUUID();
    this.#processing = this.#keys.inboxProcessing(instanceId);
    this.#alive = this.#keys.inboxAlive(instanceId);
    // The block ends well within the command timeout, so a reply that never comes means a dead socket.
    this.#blockSeconds = options.config.commandTimeoutMs / 2000;
    this.#link = new RedisLink(options.config, "inbox", options.log);
    this.#link.client.defineCommand("gatewayRecoverInbox", { numberOfKeys: 3, lua: RECOVER_SCRIPT });
    this.#link.onReady(() => void this.#markAlive().then(() => (this.#running ? this.#recoverAbandoned() : undefined)));
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#consume();
    this.#timers.push(
      setInterval(() => void this.#markAlive(), ALIVE_REFRESH_MS),
      setInterval(() => void this.#recoverAbandoned(), RECOVERY_INTERVAL_MS),
    );
    for (const timer of this.#timers) timer.unref();
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#loop;
    if (this.#link.ready) {
      // Anything still held (a publish that kept failing) is handed to the other instances now.
      await this.#link.client.del(this.#alive).catch(() => undefined);
      await this.#recover(this.#processing, this.#alive).catch(() => undefined);
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

  /** Publishes the entry (waiting out a bus outage) or dead-letters it, then takes it off the processing list. */
  async #settle(entry: string): Promise<void> {
    let draft: EventDraft;
    try {
      draft = toEventDraft(parsePublishRequest(JSON.parse(entry)), this.#options.maxEventBytes);
    } catch (error) {
      await this.#retry(() => this.#deadLetter(entry, (error as Error).message));
      return;
    }
    let refusal: string | undefined;
    const published = await this.#retry(async () => {
      try {
        await this.#options.publisher.publish(draft, "redis");
      } catch (error) {
        if (error instanceof BusUnavailableError) throw error;
        refusal = (error as Error).message;
      }
    });
    if (!published) return;
    if (refusal !== undefined) await this.#retry(() => this.#deadLetter(entry, refusal!));
    else await this.#retry(() => this.#link.client.lrem(this.#processing, 1, entry));
  }

  async #deadLetter(entry: string, reason: string): Promise<void> {
    await this.#link.client.multi().lpush(this.#keys.inboxDead, entry).lrem(this.#processing, 1, entry).exec();
    this.#options.log.warn({ reason, entry: entry.slice(0, 200) }, "Redis inbox entry moved to the dead-letter list");
  }

  /** Runs a step until it succeeds, or until the source stops (the entry then waits in the processing list). */
  async #retry(step: () => Promise<unknown>): Promise<boolean> {
    while (this.#running) {
      try {
        await step();
        return true;
      } catch {
        await sleep(RETRY_MS);
      }
    }
    return false;
  }

  async #markAlive(): Promise<void> {
    if (!this.#link.ready) return;
    await this.#link.client.set(this.#alive, "1", "PX", ALIVE_TTL_MS).catch(() => undefined);
  }

  async #recoverAbandoned(): Promise<void> {
    if (!this.#link.ready) return;
    try {
      const prefix = this.#keys.inboxProcessing("");
      const stream = this.#link.client.scanStream({ match: this.#keys.inboxProcessingPattern, count: 100 });
      for await (const keys of stream as AsyncIterable<string[]>) {
        for (const key of keys) {
          if (key === this.#processing) continue;
          const moved = await this.#recover(key, this.#keys.inboxAlive(key.slice(prefix.length)));
          if (moved > 0) this.#options.log.warn({ list: key, entries: moved }, "returned a stopped instance's inbox entries to the inbox");
        }
      }
    } catch (error) {
      this.#options.log.warn({ err: (error as Error).message }, "looking for abandoned inbox entries failed");
    }
  }

  #recover(processing: string, alive: string): Promise<number> {
    const client = this.#link.client as unknown as { gatewayRecoverInbox(...keys: string[]): Promise<number> };
    return client.gatewayRecoverInbox(alive, processing, this.#keys.inbox);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
