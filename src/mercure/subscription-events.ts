import type { MatchType, RegisteredSubscription } from "./subscription-registry.ts";
import type { MercureUpdate } from "./update.ts";

/** The JSON-LD context of the protocol's documents. */
export const MERCURE_CONTEXT = "https://mercure.rocks/";

/** Where subscription updates are published: one topic per selector and subscriber. */
export const SUBSCRIPTIONS_PATH = "/.well-known/mercure/subscriptions";

/**
 * A subscription as the protocol's JSON-LD describes it: `topic` for a `topic` selector (the 0.x
 * revision), `matchType` and `match` for a matcher of the newer one.
 */
export interface SubscriptionDescription {
  readonly "@context": typeof MERCURE_CONTEXT;
  readonly id: string;
  readonly type: "Subscription";
  readonly topic?: string;
  readonly matchType?: MatchType;
  readonly match?: string;
  readonly subscriber: string;
  readonly active: boolean;
  readonly payload?: unknown;
}

/** `.../subscriptions/{topic}/{subscriber}`, or the newer revision's `.../subscriptions/{matchType}/{match}/{subscriber}`. */
export function subscriptionTopic(selector: string, subscriber: string, matchType?: MatchType): string {
  return `${selectorPath(selector, matchType)}/${encodeURIComponent(subscriber)}`;
}

/** Where one selector's subscriptions are listed. */
export function selectorPath(selector: string, matchType?: MatchType): string {
  return `${SUBSCRIPTIONS_PATH}${matchType === undefined ? "" : `/${matchType}`}/${encodeURIComponent(selector)}`;
}

/**
 * The private updates that tell who subscribes: one per selector of the stream, when it
 * starts (`active: true`) and when it ends (`active: false`). They go through the bus like any
 * update, so subscribers of every instance receive them.
 */
export function subscriptionUpdates(subscriptions: readonly RegisteredSubscription[], active: boolean): MercureUpdate[] {
  return subscriptions.map((subscription) => {
    const description = describeSubscription(subscription, active);
    return { topics: [description.id], data: JSON.stringify(description), private: true };
  });
}

/** The JSON-LD of one subscription: the data of its updates, and what the subscriptions API answers. */
export function describeSubscription({ topic, subscriber, matchType, payload }: RegisteredSubscription, active: boolean): SubscriptionDescription {
  return {
    "@context": MERCURE_CONTEXT,
    id: subscriptionTopic(topic, subscriber, matchType),
    type: "Subscription",
    ...(matchType === undefined ? { topic } : { matchType, match: topic }),
    subscriber,
    active,
    ...(payload === undefined ? {} : { payload }),
  };
}
