import { randomUUID } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import type { RedisConfig } from "../../config/config.ts";
import { backoffDelay } from "../../hub/backoff.ts";
import {
  keyedSubscription,
  keyOf,
  matchesFilter,
  singleListing,
  subscriptionKey,
  type RegisteredSubscription,
  type SubscriptionChanges,
  type SubscriptionFilter,
  type SubscriptionListing,
  type SubscriptionRegistry,
} from "../../mercure/subscription-registry.ts";
import { BusUnavailableError } from "../event-bus.ts";
import { InstanceHeartbeat, NOW_MS } from "./instance-registry.ts";
import { RedisKeys } from "./keys.ts";
import { toBusError } from "./redis-errors.ts";
import { RedisLink } from "./redis-link.ts";

/** Instances one listing reads, at most. */
const MAX_INSTANCES = 1000;
/** Fields one HSCAN call looks at, and calls one listing makes at most: the Redis work of a request is bounded. */
const SCAN_COUNT = 1000;
const MAX_SCAN_CALLS = 200;
/** Listings this instance runs at once, at most; more answer 503. */
const MAX_CONCURRENT_LISTINGS = 8;
/** Fields one command writes or deletes. */
const WRITE_CHUNK = 1000;
/** How long add and remove wait for a failing Redis before their caller goes on. */
const WAIT_MS = 2000;
const RETRY = { baseMs: 200, maxMs: 5000 };
/** Dead instances one sweep claims, at most. */
const CLAIM_BATCH = 10;

/**
 * KEYS: the registry of instances. ARGV: the lease in ms, most instances, the subscriptions' key
 * prefix, the ended subscriptions' key prefix, how long a claimed hash is kept in ms. Takes the
 * instances silent for longer than the lease out of the registry and renames each one's hash
 * under the ended prefix, so that exactly one live instance announces their end. Returns the
 * renamed keys.
 */
const CLAIM_SCRIPT = `${NOW_MS}
local silent = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])), 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, instance in ipairs(silent) do
  redis.call('ZREM', KEYS[1], instance)
  local hash = ARGV[3] .. instance
  if redis.call('EXISTS', hash) == 1 then
    local ended = ARGV[4] .. instance
    redis.call('RENAME', hash, ended)
    redis.call('PEXPIRE', ended, ARGV[5])
    claimed[#claimed + 1] = ended
  end
end
return claimed
`;

/** The registry's counters; the metrics module implements it. */
export interface SubscriptionRegistryObserver {
  writeFailed(): void;
}

export interface RedisSubscriptionRegistryOptions {
  readonly config: RedisConfig;
  /** MERCURE_SUBSCRIPTION_LEASE_MS: how long an instance that stopped beating stays listed, at most. */
  readonly leaseMs: number;
  readonly log: FastifyBaseLogger;
  readonly observer: SubscriptionRegistryObserver;
}

type ClaimScript = (...args: (string | number)[]) => Promise<string[]>;

interface Waiter {
  readonly change: number;
  readonly done: () => void;
}

/**
 * The subscriptions of every instance, on Redis. Each instance keeps its own in one hash,
 * renewed with its heartbeat (Redis's clock) in the registry of instances: an instance killed
 * without a word stops beating and drops out of every listing within the lease; then one live
 * instance claims its hash and announces the end of its subscriptions (and a hash nobody claims
 * expires at twice the lease). The instance holds the truth about its own subscriptions and
 * writes the changes in the background: a failed write is retried with backoff (logged once per
 * outage, counted), and after a silence longer than the lease the whole hash is written anew and
 * its subscriptions announced again.
 */
export class RedisSubscriptionRegistry implements SubscriptionRegistry {
  readonly #options: RedisSubscriptionRegistryOptions;
  readonly #keys: RedisKeys;
  readonly #link: RedisLink;
  readonly #instanceId = randomUUID();
  readonly #hash: string;
  readonly #heartbeat: InstanceHeartbeat;
  /** This instance's subscriptions, by key: the payload's JSON, "" for none. What its hash must hold. */
  readonly #own = new Map<string, string>();
  /** Keys whose state in Redis may differ from #own. */
  readonly #dirty = new Set<string>();
  readonly #waiters = new Set<Waiter>();
  /** The whole hash must be written anew: first start, or the instance was forgotten after a silence. */
  #rewrite = true;
  /** Counts changes; a successful write covers every change made before it started. */
  #changes = 0;
  #writing = false;
  #failures = 0;
  #retryTimer?: NodeJS.Timeout;
  #listings = 0;
  #closed = false;
  #changesListener?: SubscriptionChanges;
  #beatBefore = false;
  /** After the next rewrite, announce every own subscription again (this instance was taken for dead). */
  #announceResumed = false;
  #sweeping = false;
  readonly #sweepTimer: NodeJS.Timeout;
  readonly #claimScript: ClaimScript;

  constructor(options: RedisSubscriptionRegistryOptions) {
    this.#options = options;
    this.#keys = new RedisKeys(options.config.keyPrefix);
    this.#hash = this.#keys.mercureSubscriptions(this.#instanceId);
    this.#link = new RedisLink(options.config, "mercure-subscriptions", options.log);
    this.#heartbeat = new InstanceHeartbeat(this.#link, {
      registry: this.#keys.mercureInstances,
      instanceId: this.#instanceId,
      // Two beats may be missed before the lease runs out.
      intervalMs: Math.floor(options.leaseMs / 3),
      leaseMs: options.leaseMs,
      // Past the lease, so that the live instances can claim it before it goes.
      leasedKeys: { keys: [this.#hash], ttlMs: 2 * options.leaseMs },
      onRegistered: () => {
        this.#rewrite = true;
        this.#announceResumed = this.#beatBefore;
        this.#beatBefore = true;
      },
    });
    this.#heartbeat.start();
    this.#link.client.defineCommand("gatewayClaimSilent", { numberOfKeys: 1, lua: CLAIM_SCRIPT });
    this.#claimScript = (this.#link.client as unknown as Record<"gatewayClaimSilent", ClaimScript>).gatewayClaimSilent.bind(this.#link.client);
    this.#sweepTimer = setInterval(() => void this.#claimSilent(), Math.floor(options.leaseMs / 3));
    this.#sweepTimer.unref();
    this.#link.onReady(() => void this.#heartbeat.beat().then(() => this.#write()));
  }

  add(subscriptions: readonly RegisteredSubscription[]): Promise<void> {
    for (const subscription of subscriptions) {
      const key = keyOf(subscription);
      this.#own.set(key, subscription.payload === undefined ? "" : JSON.stringify(subscription.payload));
      this.#dirty.add(key);
    }
    return this.#changed();
  }

  remove(subscriptions: readonly RegisteredSubscription[]): Promise<void> {
    for (const subscription of subscriptions) {
      const key = keyOf(subscription);
      this.#own.delete(key);
      this.#dirty.add(key);
    }
    return this.#changed();
  }

  async list(filter: SubscriptionFilter, limit: number): Promise<SubscriptionListing> {
    if (!this.#link.ready) throw new BusUnavailableError(this.#link.downReason);
    if (this.#listings >= MAX_CONCURRENT_LISTINGS) throw new BusUnavailableError(`${MAX_CONCURRENT_LISTINGS} subscription listings are already running on this instance`);
    this.#listings++;
    try {
      const instances = await this.#heartbeat.liveInstances(MAX_INSTANCES + 1);
      const truncated = instances.length > MAX_INSTANCES;
      const hashes = instances.slice(0, MAX_INSTANCES).map((instance) => this.#keys.mercureSubscriptions(instance));
      if (filter.topic !== undefined && filter.subscriber !== undefined) return await this.#find(hashes, subscriptionKey(filter.topic, filter.subscriber, filter.matchType), limit);
      const listing = await this.#scan(hashes, filter, limit);
      return truncated ? { ...listing, truncated } : listing;
    } catch (error) {
      throw toBusError("listing Mercure subscriptions", error);
    } finally {
      this.#listings--;
    }
  }

  watch(changes: SubscriptionChanges): void {
    this.#changesListener = changes;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#heartbeat.stop();
    clearInterval(this.#sweepTimer);
    clearTimeout(this.#retryTimer);
    for (const waiter of this.#waiters) waiter.done();
    if (this.#link.ready) {
      // A clean stop leaves the list at once; a crash leaves it when the lease runs out.
      await this.#link.client.multi().del(this.#hash).zrem(this.#keys.mercureInstances, this.#instanceId).exec().catch(() => undefined);
    }
    await this.#link.close();
  }

  /** One subscription: its key in each live instance's hash. */
  async #find(hashes: readonly string[], key: string, limit: number): Promise<SubscriptionListing> {
    if (hashes.length === 0) return singleListing(undefined, limit);
    const pipeline = this.#link.client.pipeline();
    for (const hash of hashes) pipeline.hget(hash, key);
    for (const [error, value] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      const found = typeof value === "string" ? decode(key, value) : undefined;
      if (found) return singleListing(found, limit);
    }
    return singleListing(undefined, limit);
  }

  /**
   * Every live instance's subscriptions (of one topic, with a filter), up to the limit. HSCAN
   * returns each field present for the whole scan; one added or removed meanwhile may be missed
   * or not, and its update is newer than the listing's lastEventID, which was read first.
   */
  async #scan(hashes: readonly string[], filter: SubscriptionFilter, limit: number): Promise<SubscriptionListing> {
    const match = filter.topic === undefined ? "*" : `${globEscape(JSON.stringify([filter.topic]).slice(0, -1))},*`;
    const found: RegisteredSubscription[] = [];
    let calls = 0;
    for (const hash of hashes) {
      let cursor = "0";
      do {
        if (calls++ >= MAX_SCAN_CALLS) return { subscriptions: found, truncated: true };
        const [next, fields] = await this.#link.client.hscan(hash, cursor, "MATCH", match, "COUNT", SCAN_COUNT);
        for (const subscription of decodeFields(fields)) {
          if (!matchesFilter(subscription, filter)) continue;
          if (found.length >= limit) return { subscriptions: found, truncated: true };
          found.push(subscription);
        }
        cursor = next;
      } while (cursor !== "0");
    }
    return { subscriptions: found, truncated: false };
  }

  /**
   * Claims dead instances' subscriptions and announces their end, a page at a time; one that
   * cannot be announced now (the bus fails) is not retried: its updates are best effort too.
   */
  async #claimSilent(): Promise<void> {
    if (!this.#link.ready || this.#closed || this.#sweeping) return;
    this.#sweeping = true;
    try {
      const claimed = await this.#claimScript(this.#keys.mercureInstances, this.#options.leaseMs, CLAIM_BATCH, this.#keys.mercureSubscriptions(""), this.#keys.mercureEnded(""), this.#options.leaseMs);
      for (const key of claimed) {
        let cursor = "0";
        do {
          const [next, fields] = await this.#link.client.hscan(key, cursor, "COUNT", SCAN_COUNT);
          const ended = decodeFields(fields);
          if (ended.length > 0) await this.#changesListener?.ended(ended);
          cursor = next;
        } while (cursor !== "0");
        await this.#link.client.del(key);
      }
      if (claimed.length > 0) this.#options.log.warn({ instances: claimed.length }, "Mercure subscriptions of instances that stopped beating were taken off the list and announced as ended");
    } catch (error) {
      this.#options.log.warn({ err: (error as Error).message }, "claiming stopped instances' Mercure subscriptions failed; the next sweep tries again");
    } finally {
      this.#sweeping = false;
    }
  }

  /** This instance's subscriptions, announced again a page at a time once the rewrite put them back on the list. */
  async #resume(): Promise<void> {
    const own = decodeFields([...this.#own].flat());
    for (let at = 0; at < own.length; at += SCAN_COUNT) await this.#changesListener?.resumed(own.slice(at, at + SCAN_COUNT));
  }

  /** Resolves once a write covering this change succeeded, or after WAIT_MS (at once after close). */
  #changed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const change = ++this.#changes;
    const settled = new Promise<void>((resolve) => {
      const timer = setTimeout(() => waiter.done(), WAIT_MS);
      timer.unref();
      const waiter: Waiter = {
        change,
        done: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      this.#waiters.add(waiter);
    });
    void this.#write();
    return settled;
  }

  /** Writes what changed (or the whole hash) in one transaction; on failure keeps it for the retry. */
  async #write(): Promise<void> {
    if (this.#writing || this.#closed || (!this.#rewrite && this.#dirty.size === 0)) return;
    // Counted like a failed write; the connection's return writes at once, the retry timer otherwise.
    if (!this.#link.ready) return this.#failed(new BusUnavailableError(this.#link.downReason));
    this.#writing = true;
    const change = this.#changes;
    const rewrite = this.#rewrite;
    const keys = rewrite ? [...this.#own.keys()] : [...this.#dirty];
    this.#rewrite = false;
    this.#dirty.clear();
    try {
      await this.#send(rewrite, keys);
      if (rewrite && this.#announceResumed) {
        this.#announceResumed = false;
        this.#resume().catch((error: unknown) => this.#options.log.warn({ err: (error as Error).message }, "announcing this instance's Mercure subscriptions again failed"));
      }
      for (const waiter of this.#waiters) if (waiter.change <= change) waiter.done();
      if (this.#failures > 0) this.#options.log.info({ failures: this.#failures }, "Mercure subscriptions are written to Redis again");
      this.#failures = 0;
    } catch (error) {
      if (rewrite) this.#rewrite = true;
      else for (const key of keys) this.#dirty.add(key);
      this.#failed(error);
    } finally {
      this.#writing = false;
    }
    // Changes made during the write; after a failure the retry timer comes back.
    if (this.#failures === 0) void this.#write();
  }

  async #send(rewrite: boolean, keys: readonly string[]): Promise<void> {
    const transaction = this.#link.client.multi();
    if (rewrite) transaction.del(this.#hash);
    const present: string[] = [];
    const absent: string[] = [];
    for (const key of keys) {
      const value = this.#own.get(key);
      if (value === undefined) absent.push(key);
      else present.push(key, value);
    }
    for (let at = 0; at < present.length; at += 2 * WRITE_CHUNK) transaction.hset(this.#hash, ...present.slice(at, at + 2 * WRITE_CHUNK));
    for (let at = 0; at < absent.length; at += WRITE_CHUNK) transaction.hdel(this.#hash, ...absent.slice(at, at + WRITE_CHUNK));
    transaction.pexpire(this.#hash, 2 * this.#options.leaseMs);
    let results: [Error | null, unknown][] | null;
    try {
      results = await transaction.exec();
    } catch (error) {
      throw toBusError("writing Mercure subscriptions", error);
    }
    const refused = results?.find(([error]) => error !== null)?.[0];
    if (refused) throw toBusError("writing Mercure subscriptions", refused);
  }

  /** Logged once per outage, counted each time; retried with backoff and jitter. */
  #failed(error: unknown): void {
    if (this.#failures === 0) this.#options.log.warn({ err: (error as Error).message }, "writing Mercure subscriptions to Redis failed; retrying with backoff (listings miss this instance's changes meanwhile)");
    this.#options.observer.writeFailed();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#write(), backoffDelay(this.#failures, RETRY, Math.random));
    this.#retryTimer.unref();
    this.#failures++;
  }
}

/** HSCAN's flat field, value list as subscriptions. */
function decodeFields(fields: readonly string[]): RegisteredSubscription[] {
  const subscriptions: RegisteredSubscription[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const subscription = decode(fields[i]!, fields[i + 1]!);
    if (subscription) subscriptions.push(subscription);
  }
  return subscriptions;
}

/** A stored field and value back as a subscription; anything else (not written by the gateway) is skipped. */
function decode(key: string, value: string): RegisteredSubscription | undefined {
  try {
    const subscription = keyedSubscription(key);
    if (!subscription) return undefined;
    return value === "" ? subscription : { ...subscription, payload: JSON.parse(value) as unknown };
  } catch {
    return undefined;
  }
}

/** HSCAN MATCH takes a glob: its special characters in a topic are matched as themselves. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
