import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ApiError } from "../../src/http/errors.ts";
import { selectorPath, SUBSCRIPTIONS_PATH, subscriptionTopic } from "../../src/mercure/subscription-events.ts";
import {
  MAX_PAYLOAD_BYTES,
  MemorySubscriptionRegistry,
  keyedSubscription,
  keyOf,
  matchesFilter,
  registeredSubscription,
  subscriptionKey,
  type MatchType,
  type RegisteredSubscription,
  type SubscriptionFilter,
} from "../../src/mercure/subscription-registry.ts";
import { parseSubscriptionsPath, subscriptionDocument, subscriptionsDocument } from "../../src/mercure/subscriptions-api.ts";

/** Topics that stress keys and encodings: glob characters, quotes, separators, non-ASCII. */
const topic = fc.constantFrom("https://example.com/books/1", "https://example.com/books/{id}", "*", 'a"b', "a,b", "x[1]?*\\", "日本/é", "a/b c");
const subscriber = fc.constantFrom("urn:uuid:1", "urn:uuid:2", "urn:uuid:3");
const matchType = fc.constantFrom<MatchType | undefined>(undefined, "Exact", "URLPattern");
const operation = fc.record({ add: fc.boolean(), topic, subscriber, matchType, payload: fc.option(fc.jsonValue(), { nil: undefined }) });
const filter: fc.Arbitrary<SubscriptionFilter> = fc.oneof(
  fc.constant({}),
  fc.record({ topic, matchType }, { requiredKeys: ["topic"] }),
  fc.record({ topic, matchType, subscriber }, { requiredKeys: ["topic", "subscriber"] }),
);

describe("the memory subscription registry", () => {
  it("lists what a model of adds and removes holds, filtered, capped at the limit and saying when it was cut", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 40 }), filter, fc.integer({ min: 0, max: 12 }), async (operations, wanted, limit) => {
        const registry = new MemorySubscriptionRegistry();
        const model = new Map<string, RegisteredSubscription>();
        for (const { add, topic, subscriber, matchType, payload } of operations) {
          const subscription = registeredSubscription(topic, subscriber, payload, matchType);
          const key = subscriptionKey(topic, subscriber, matchType);
          if (add) {
            await registry.add([subscription]);
            model.set(key, subscription);
          } else {
            await registry.remove([subscription]);
            model.delete(key);
          }
        }
        const expected = [...model.values()].filter((subscription) => matchesFilter(subscription, wanted));
        const listing = await registry.list(wanted, limit);
        assert.equal(listing.subscriptions.length, Math.min(limit, expected.length));
        assert.equal(listing.truncated, expected.length > limit);
        for (const found of listing.subscriptions) assert.deepEqual(found, model.get(keyOf(found)));
        assert.equal(new Set(listing.subscriptions.map(keyOf)).size, listing.subscriptions.length, "each once");
      }),
    );
  });

  it("keys tell every (topic, subscriber, matcher type) apart, whatever characters they hold, and read back", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), matchType, fc.string(), fc.string(), matchType, (a, b, x, c, d, y) => {
        if (a !== c || b !== d || x !== y) assert.notEqual(subscriptionKey(a, b, x), subscriptionKey(c, d, y));
        assert.deepEqual(keyedSubscription(subscriptionKey(a, b, x)), x === undefined ? { topic: a, subscriber: b } : { topic: a, subscriber: b, matchType: x });
      }),
    );
    assert.equal(keyedSubscription(JSON.stringify(["t", "s", "Other"])), undefined);
  });

  it("drops a payload larger than MAX_PAYLOAD_BYTES as JSON, keeps a smaller one", () => {
    assert.deepEqual(registeredSubscription("t", "s", { user: "alice" }), { topic: "t", subscriber: "s", payload: { user: "alice" } });
    assert.deepEqual(registeredSubscription("t", "s", "x".repeat(MAX_PAYLOAD_BYTES)), { topic: "t", subscriber: "s" });
    assert.deepEqual(registeredSubscription("t", "s", undefined), { topic: "t", subscriber: "s" });
  });
});

describe("subscriptions API paths and documents", () => {
  it("reads the collection, a topic's and one subscription's paths back from the ids subscriptions have", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 100, unit: "binary" }), fc.uuid(), matchType, (selector, uuid, type) => {
        // A 0.x topic selector spelled like a matcher type is read as the newer layout: the one ambiguity.
        fc.pre(type !== undefined || (selector !== "Exact" && selector !== "URLPattern"));
        const subscriber = `urn:uuid:${uuid}`;
        const wanted = type === undefined ? { topic: selector } : { topic: selector, matchType: type };
        assert.deepEqual(parseSubscriptionsPath(subscriptionTopic(selector, subscriber, type)), { ...wanted, subscriber });
        assert.deepEqual(parseSubscriptionsPath(selectorPath(selector, type)), wanted);
      }),
    );
    assert.deepEqual(parseSubscriptionsPath(SUBSCRIPTIONS_PATH), {});
    assert.deepEqual(parseSubscriptionsPath(`${SUBSCRIPTIONS_PATH}/${encodeURIComponent("https://example.com/a/b")}`), { topic: "https://example.com/a/b" });
  });

  it("answers 404 for other shapes, 400 for bad encodings and over-long selectors", () => {
    const code = (path: string) => {
      try {
        parseSubscriptionsPath(path);
        return "none";
      } catch (error) {
        return (error as ApiError).code;
      }
    };
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/a/b/c`), "not_found");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/Exact/b/c/d`), "not_found");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/exact/b/c`), "not_found", "matcher types in their canonical case only");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/`), "not_found");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}//b`), "not_found");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}x`), "not_found");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/%E0%A4%A`), "invalid_url");
    assert.equal(code(`${SUBSCRIPTIONS_PATH}/${"a".repeat(2049)}`), "invalid_request");
  });

  it("builds the protocol's Subscriptions and Subscription documents", () => {
    const one = { topic: "https://example.com/{id}", subscriber: "urn:uuid:1", payload: { user: "bob" } };
    const collection = subscriptionsDocument(SUBSCRIPTIONS_PATH, "#1-0", { subscriptions: [one], truncated: false });
    assert.deepEqual(collection, {
      "@context": "https://mercure.rocks/",
      id: SUBSCRIPTIONS_PATH,
      type: "Subscriptions",
      lastEventID: "#1-0",
      subscriptions: [{ id: subscriptionTopic(one.topic, one.subscriber), type: "Subscription", topic: one.topic, subscriber: one.subscriber, active: true, payload: one.payload }],
    });
    assert.equal(subscriptionsDocument(SUBSCRIPTIONS_PATH, "#1-0", { subscriptions: [], truncated: true }).truncated, true);
    assert.deepEqual(subscriptionDocument({ subscriptions: [one], truncated: false }, "#2-0"), {
      "@context": "https://mercure.rocks/",
      id: subscriptionTopic(one.topic, one.subscriber),
      type: "Subscription",
      topic: one.topic,
      subscriber: one.subscriber,
      active: true,
      payload: one.payload,
      lastEventID: "#2-0",
    });
    assert.throws(() => subscriptionDocument({ subscriptions: [], truncated: false }, "#2-0"), (error: ApiError) => error.code === "not_found");
    const newer = { topic: "/books/:id", subscriber: "urn:uuid:2", matchType: "URLPattern" as const };
    assert.deepEqual(subscriptionDocument({ subscriptions: [newer], truncated: false }, "#3-0"), {
      "@context": "https://mercure.rocks/",
      id: `${SUBSCRIPTIONS_PATH}/URLPattern/${encodeURIComponent("/books/:id")}/${encodeURIComponent("urn:uuid:2")}`,
      type: "Subscription",
      matchType: "URLPattern",
      match: "/books/:id",
      subscriber: "urn:uuid:2",
      active: true,
      lastEventID: "#3-0",
    });
  });
});
