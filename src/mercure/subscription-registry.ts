/** The matcher types of the newer revision, in the protocol's canonical case. */
export type MatchType = "Exact" | "URLPattern";

/** One active subscription: one selector of one subscriber (a stream), as the subscriptions API lists it. */
export interface RegisteredSubscription {
  /** The selector as the subscriber sent it (`topic`, or the newer revision's `match`). */
  readonly topic: string;
  /** The newer revision's matcher type (`match`, `match_urlpattern`); absent for a `topic` selector. */
  readonly matchType?: MatchType;
  /** The stream's `urn:uuid:` id. */
  readonly subscriber: string;
  /** The token's `mercure.payload`, when it has one of at most MAX_PAYLOAD_BYTES. */
  readonly payload?: unknown;
}

/** What a listing asks for: everything, one selector's subscriptions, or one subscription. */
export interface SubscriptionFilter {
  readonly topic?: string;
  /** Only with `topic`: a matcher of the newer revision; without it, a `topic` selector. */
  readonly matchType?: MatchType;
  /** Only with `topic`. */
  readonly subscriber?: string;
}

export interface SubscriptionListing {
  readonly subscriptions: readonly RegisteredSubscription[];
  /** True when the limit (or the registry's own bound on one read) cut the list. */
  readonly truncated: boolean;
}

/**
 * Changes the registry itself makes to the list, for the hub to announce as subscription updates.
 * Each is called after the list shows the change, so a listing's lastEventID stays safe.
 */
export interface SubscriptionChanges {
  /** Subscriptions of an instance that stopped without a word, taken off the list: they ended. */
  ended(subscriptions: readonly RegisteredSubscription[]): Promise<void>;
  /** This instance's subscriptions, back on the list after it had been taken for dead (a silence longer than the lease, or a Redis that lost its data). */
  resumed(subscriptions: readonly RegisteredSubscription[]): Promise<void>;
}

/**
 * The active subscriptions of every instance of the gateway. The memory registry serves one
 * process; the Redis registry (src/bus/redis) holds each instance's own under a lease, so that
 * an instance that dies drops out of the list on its own.
 */
export interface SubscriptionRegistry {
  /**
   * Best effort, never rejects: resolves once written, or after a bounded wait when the backend
   * fails (the registry then goes on trying in the background, and logs and counts the failure).
   * A subscription's update is published only after this resolves, so that a listing's
   * lastEventID is never newer than a change the listing does not show.
   */
  add(subscriptions: readonly RegisteredSubscription[]): Promise<void>;
  /** Like add. */
  remove(subscriptions: readonly RegisteredSubscription[]): Promise<void>;
  /**
   * The active subscriptions matching the filter, at most `limit`. Rejects with
   * BusUnavailableError (retry) or BusRejectedError (permanent) when the backend fails.
   */
  list(filter: SubscriptionFilter, limit: number): Promise<SubscriptionListing>;
  /** Called once, before any subscription is added. */
  watch(changes: SubscriptionChanges): void;
  close(): Promise<void>;
}

/** Longest `mercure.payload` (as JSON) a registered subscription keeps: each one is stored for every selector. */
export const MAX_PAYLOAD_BYTES = 4096;

/** A subscription to register: the payload is dropped when its JSON is larger than MAX_PAYLOAD_BYTES. */
export function registeredSubscription(topic: string, subscriber: string, payload: unknown, matchType?: MatchType): RegisteredSubscription {
  const kept = payload === undefined || Buffer.byteLength(JSON.stringify(payload) ?? "") > MAX_PAYLOAD_BYTES ? {} : { payload };
  return { topic, subscriber, ...(matchType === undefined ? {} : { matchType }), ...kept };
}

/**
 * The one key of a subscription in every registry, `[topic, subscriber]` or `[match, subscriber,
 * matchType]` as JSON: no separator a topic could contain is needed, and a key starts with its
 * selector's, so that one selector's subscriptions are found by prefix.
 */
export function subscriptionKey(topic: string, subscriber: string, matchType?: MatchType): string {
  return JSON.stringify(matchType === undefined ? [topic, subscriber] : [topic, subscriber, matchType]);
}

/** The subscription a key names (its payload aside), or undefined for a key no registry writes. */
export function keyedSubscription(key: string): RegisteredSubscription | undefined {
  const [topic, subscriber, matchType, ...more] = JSON.parse(key) as unknown[];
  if (typeof topic !== "string" || typeof subscriber !== "string" || more.length > 0) return undefined;
  if (matchType === undefined) return { topic, subscriber };
  return matchType === "Exact" || matchType === "URLPattern" ? { topic, subscriber, matchType } : undefined;
}

export function matchesFilter(subscription: RegisteredSubscription, filter: SubscriptionFilter): boolean {
  const selected = filter.topic === undefined || (subscription.topic === filter.topic && subscription.matchType === filter.matchType);
  return selected && (filter.subscriber === undefined || subscription.subscriber === filter.subscriber);
}

export function keyOf(subscription: RegisteredSubscription): string {
  return subscriptionKey(subscription.topic, subscription.subscriber, subscription.matchType);
}

/** The listing of a lookup of one subscription, under the limit like any other. */
export function singleListing(found: RegisteredSubscription | undefined, limit: number): SubscriptionListing {
  if (!found) return { subscriptions: [], truncated: false };
  return limit > 0 ? { subscriptions: [found], truncated: false } : { subscriptions: [], truncated: true };
}

/** The registry of a gateway without Redis: one process holds every subscription. */
export class MemorySubscriptionRegistry implements SubscriptionRegistry {
  readonly #subscriptions = new Map<string, RegisteredSubscription>();

  async add(subscriptions: readonly RegisteredSubscription[]): Promise<void> {
    for (const subscription of subscriptions) this.#subscriptions.set(keyOf(subscription), subscription);
  }

  async remove(subscriptions: readonly RegisteredSubscription[]): Promise<void> {
    for (const subscription of subscriptions) this.#subscriptions.delete(keyOf(subscription));
  }

  async list(filter: SubscriptionFilter, limit: number): Promise<SubscriptionListing> {
    if (filter.topic !== undefined && filter.subscriber !== undefined) {
      return singleListing(this.#subscriptions.get(subscriptionKey(filter.topic, filter.subscriber, filter.matchType)), limit);
    }
    const subscriptions: RegisteredSubscription[] = [];
    for (const subscription of this.#subscriptions.values()) {
      if (!matchesFilter(subscription, filter)) continue;
      if (subscriptions.length >= limit) return { subscriptions, truncated: true };
      subscriptions.push(subscription);
    }
    return { subscriptions, truncated: false };
  }

  /** One process: no other instance to outlive, no silence to come back from. */
  watch(): void {}

  async close(): Promise<void> {
    this.#subscriptions.clear();
  }
}
