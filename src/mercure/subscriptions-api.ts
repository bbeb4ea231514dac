import { ApiError } from "../http/errors.ts";
import { describeSubscription, MERCURE_CONTEXT, SUBSCRIPTIONS_PATH, type SubscriptionDescription } from "./subscription-events.ts";
import type { MatchType, SubscriptionFilter, SubscriptionListing } from "./subscription-registry.ts";

/** Subscriptions one answer lists, at most (a cap, not a page: the protocol has no paging). */
export const MAX_LISTED = 1000;
/** Longest topic selector a subscription may have, as a stored key and in these URLs. */
export const MAX_SELECTOR_CHARS = 2048;

/** The collection document: `truncated` (not in the protocol) says that MAX_LISTED or the registry's own bound cut it. */
export interface SubscriptionsDocument {
  readonly "@context": typeof MERCURE_CONTEXT;
  readonly id: string;
  readonly type: "Subscriptions";
  readonly lastEventID: string;
  readonly subscriptions: readonly Omit<SubscriptionDescription, "@context">[];
  readonly truncated?: true;
}

const MATCH_TYPES: ReadonlySet<string> = new Set<MatchType>(["Exact", "URLPattern"]);

/**
 * What a path under /.well-known/mercure/subscriptions asks for, from its raw (still encoded)
 * form: nothing more (every subscription), `/{topic}[/{subscriber}]` (the 0.x revision) or
 * `/{matchType}/{match}[/{subscriber}]` (the newer one: a first segment `Exact` or `URLPattern`),
 * each segment URL-encoded as in the subscriptions' ids.
 */
export function parseSubscriptionsPath(path: string): SubscriptionFilter {
  if (path === SUBSCRIPTIONS_PATH) return {};
  const segments = path.slice(SUBSCRIPTIONS_PATH.length + 1).split("/");
  const matchType = segments.length > 1 && MATCH_TYPES.has(segments[0]!) ? (segments.shift() as MatchType) : undefined;
  if (!path.startsWith(`${SUBSCRIPTIONS_PATH}/`) || segments.length > 2 || segments.some((segment) => segment === "")) {
    throw new ApiError("not_found", `no such subscriptions resource: use ${SUBSCRIPTIONS_PATH}, ${SUBSCRIPTIONS_PATH}/{topic}[/{subscriber}] or ${SUBSCRIPTIONS_PATH}/{matchType}/{match}[/{subscriber}], each URL-encoded`);
  }
  const [topic, subscriber] = segments.map(decodeSegment);
  if (topic!.length > MAX_SELECTOR_CHARS) throw new ApiError("invalid_request", `a topic selector is at most ${MAX_SELECTOR_CHARS} characters`);
  return { topic: topic!, ...(matchType === undefined ? {} : { matchType }), ...(subscriber === undefined ? {} : { subscriber }) };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError("invalid_url", "a segment of the subscriptions URL is not valid percent-encoded UTF-8");
  }
}

export function subscriptionsDocument(path: string, lastEventID: string, listing: SubscriptionListing): SubscriptionsDocument {
  return {
    "@context": MERCURE_CONTEXT,
    id: path,
    type: "Subscriptions",
    lastEventID,
    // The context is the collection's; its members do not repeat it.
    subscriptions: [...listing.subscriptions]
      .map((subscription) => {
        const { "@context": _context, ...member } = describeSubscription(subscription, true);
        return member;
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    ...(listing.truncated ? { truncated: true as const } : {}),
  };
}

/** One subscription's document, or a 404 when no instance holds it (ended subscriptions are not kept). */
export function subscriptionDocument(listing: SubscriptionListing, lastEventID: string): SubscriptionDescription & { readonly lastEventID: string } {
  const found = listing.subscriptions[0];
  if (!found) throw new ApiError("not_found", "no active subscription has this topic and subscriber");
  return { ...describeSubscription(found, true), lastEventID };
}
