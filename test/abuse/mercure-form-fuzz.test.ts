import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { SignJWT } from "jose";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

/**
 * Generated publish forms and subscriptions against a running hub: every answer is one the
 * README's error table lists (never a 5xx), and a private update never reaches a subscriber
 * whose token does not grant one of its topics, whatever the topics, selectors and encodings.
 */

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
const sign = (claims: Record<string, unknown>, key: string) => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(key));

const FIELDS = ["topic", "data", "private", "id", "type", "retry", "Private", "topic[]", ""];
const piece = fc.constantFrom("https://example.com/", "users/7/", "inbox", "%2e%2e/", "../", "{id}", "{+x}", "*", "#", "%", "%0A", "%00", "earliest", "/.well-known/mercure/", "é", "a", "1", "", "&", "=", "+", "%E2%9C%93", "\\", "%ZZ");
const text = fc.array(piece, { maxLength: 6 }).map((parts) => parts.join(""));
const form = fc.array(fc.tuple(fc.constantFrom(...FIELDS), text), { minLength: 0, maxLength: 8 });
const ANSWERS = new Set([200, 400, 403, 409, 413, 415]);

describe("generated Mercure publish forms and subscriptions", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, MERCURE_ANONYMOUS: "1", MAX_EVENT_BYTES: "4096" });
  });
  after(() => gw.stop());

  it("answer 200 or a 4xx of the error table, never a 5xx; no private update reaches a subscriber not granted it", async () => {
    const hub = `${gw.url}/.well-known/mercure`;
    const controller = new AbortController();
    // Private updates this test publishes carry "PRIVATE" in their data; these streams may see none.
    const watchers = await Promise.all([
      fetch(`${hub}?topic=*`, { signal: controller.signal }),
      fetch(`${hub}?topic=${encodeURIComponent("{+x}")}&match_urlpattern=*`, { signal: controller.signal }),
      fetch(`${hub}?topic=*`, { headers: { authorization: `Bearer ${await sign({ mercure: { subscribe: ["https://example.com/other/{x}"] } }, SUBSCRIBER_KEY)}` }, signal: controller.signal }),
    ]);
    for (const watcher of watchers) assert.equal(watcher.status, 200);
    const publisher = await sign({ mercure: { publish: ["*"] } }, PUBLISHER_KEY);
    await fc.assert(
      fc.asyncProperty(form, fc.boolean(), text, async (fields, isPrivate, selectorText) => {
        const body = fields.filter(([name]) => name !== "data" && name !== "private").map(([name, value]) => `${name}=${value}`);
        body.push(`data=${isPrivate ? "PRIVATE" : "public"}`);
        if (isPrivate) body.push("private=on");
        const answer = await fetch(hub, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${publisher}` }, body: body.join("&") });
        const answerText = await answer.text();
        assert.ok(ANSWERS.has(answer.status), `${answer.status} ${answerText} for ${body.join("&")}`);
        if (answer.status !== 200) assert.match(JSON.parse(answerText).error, /^[a-z_]+$/);
        // Whatever a subscriber writes as a selector: a stream, or a 400 that says why.
        const subscription = await fetch(`${hub}?topic=${encodeURIComponent(selectorText || "x")}&match_urlpattern=${encodeURIComponent(selectorText || "x")}`, { signal: AbortSignal.timeout(5000) });
        assert.ok(subscription.status === 200 || subscription.status === 400, `${subscription.status} for ${selectorText}`);
        await subscription.body?.cancel();
      }),
      { numRuns: 300 },
    );
    const marker = await fetch(hub, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${publisher}` }, body: "topic=end&data=the-end" });
    assert.equal(marker.status, 200);
    for (const watcher of watchers) {
      const reader = watcher.body!.getReader();
      let seen = "";
      while (!seen.includes("the-end")) {
        const next = await reader.read();
        if (next.done) break;
        seen += new TextDecoder().decode(next.value);
      }
      assert.match(seen, /the-end/);
      assert.doesNotMatch(seen, /PRIVATE/);
    }
    controller.abort();
  });
});
