import type { MercureUpdate } from "./update.ts";

/** Where subscription updates are published: one topic per selector and subscriber. */
export const SUBSCRIPTIONS_PATH = "/.well-known/mercure/subscriptions";

/** A subscription as the protocol's JSON-LD describes it. */
export interface SubscriptionDescription {
  readonly "@context": "https://mercure.rocks/";
  readonly id: string;
  readonly type: "Subscription";
  readonly topic: string;
  readonly subscriber: string;
  readonly active: boolean;
  readonly payload?: unknown;
}

export function subscriptionTopic(selector: string, subscriber: string): string {
  return `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(selector)}/${encodeURIComponent(subscriber)}`;
}

/**
 * The private updates that tell who subscribes: one per selector of the subscription, when it
 * starts (`active: true`) and when it ends (`active: false`). They go through the bus like any
 * update, so subscribers of every instance receive them.
 */
export function subscriptionUpdates(selectors: readonly string[], subscriber: string, active: boolean, payload: unknown): MercureUpdate[] {
  return selectors.map((selector) => {
    const id = subscriptionTopic(selector, subscriber);
    const description: SubscriptionDescription = {
      "@context": "https://mercure.rocks/",
      id,
      type: "Subscription",
      topic: selector,
      subscriber,
      active,
      ...(payload === undefined ? {} : { payload }),
    };
    return { topics: [id], data: JSON.stringify(description), private: true };
  });
}
