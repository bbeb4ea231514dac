import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
const sign = (claims: Record<string, unknown>, key: string) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(key));

/** Reads an SSE body until `until` appears (or 5 s pass: the test's own bound). */
async function readUntil(body: ReadableStream<Uint8Array>, until: string): Promise<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + 5000;
  let text = "";
  while (!text.includes(until) && Date.now() < deadline) {
    const next = await Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(resolve, deadline - Date.now()))]);
    if (next === undefined || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  await reader.cancel();
  return text;
}

// POST /publish took the type "mercure.update", and Mercure streams read any event of that type
// as an update: a publisher allowed only topic "news" could send a private update on any Mercure
// topic to its subscribers, past the Mercure publish claim and the private flag.
describe("an /events publisher cannot speak on the Mercure hub", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, MERCURE_ANONYMOUS: "1" });
  });
  after(() => gw.stop());

  it("an event of type mercure.update sent to users and topics reaches no Mercure subscriber", async () => {
    const inbox = "https://example.com/users/7/inbox";
    const owner = await sign({ mercure: { subscribe: ["https://example.com/users/7/{box}"] } }, SUBSCRIBER_KEY);
    const controller = new AbortController();
    const hub = `${gw.url}/.well-known/mercure`;
    const streams = await Promise.all([
      fetch(`${hub}?topic=${encodeURIComponent("https://example.com/users/7/{box}")}`, { headers: { authorization: `Bearer ${owner}` }, signal: controller.signal }),
      fetch(`${hub}?topic=*`, { signal: controller.signal }),
      fetch(`${hub}?topic=${encodeURIComponent(inbox)}`, { headers: { authorization: `Bearer ${owner}` }, signal: controller.signal }),
    ]);
    for (const stream of streams) assert.equal(stream.status, 200);
    const forged = { topics: [inbox], data: "forged", private: false };
    const newsOnly = await token({ sub: "newsbot", publish: ["topic:news"] });
    const everything = await token({ sub: "allbot", publish: ["*"] });
    for (const [body, by] of [[{ type: "mercure.update", topics: ["news"], data: forged }, newsOnly], [{ type: "mercure.update", users: ["7"], data: forged }, everything]] as const) {
      const answer = await publish(gw.url, body, by);
      assert.ok(answer.status === 202 || answer.status === 400, `${answer.status} ${JSON.stringify(answer.body)}`);
    }
    const genuine = await fetch(hub, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${await sign({ mercure: { publish: ["*"] } }, PUBLISHER_KEY)}` },
      body: new URLSearchParams([["topic", inbox], ["data", "genuine"]]).toString(),
    });
    assert.equal(genuine.status, 200);
    for (const stream of streams) {
      const text = await readUntil(stream.body!, "genuine");
      assert.match(text, /data: genuine/);
      assert.doesNotMatch(text, /forged/);
    }
    controller.abort();
  });
});

// The hub's own topics were recognised only after URL normalisation: a topic whose dot segments
// (`..`, `%2e%2e`) normalise out of /.well-known/mercure/ passed, yet a subscriber of the
// subscription template, which matches the topic as written, received it as a subscription update.
describe("a publisher cannot write into the hub's namespace with dot segments", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, MERCURE_SUBSCRIPTIONS: "1" });
  });
  after(() => gw.stop());

  it("refuses every spelling of a topic under /.well-known/mercure/, and the subscription template's subscribers get none of them", async () => {
    const template = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
    const watcher = await sign({ mercure: { subscribe: [template] } }, SUBSCRIBER_KEY);
    const controller = new AbortController();
    const stream = await fetch(`${gw.url}/.well-known/mercure?topic=${encodeURIComponent(template)}`, { headers: { authorization: `Bearer ${watcher}` }, signal: controller.signal });
    assert.equal(stream.status, 200);
    const publisher = await sign({ mercure: { publish: ["*"] } }, PUBLISHER_KEY);
    const post = (topic: string, data: string) =>
      fetch(`${gw.url}/.well-known/mercure`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${publisher}` },
        body: new URLSearchParams([["topic", topic], ["data", data], ["private", "on"]]).toString(),
      });
    const spellings = [
      "/.well-known/mercure/subscriptions/%2e%2e/%2e%2e",
      "/.well-known/mercure/subscriptions/../..",
      "/.well-known/mercure/subscriptions/%2E%2e/.",
      "https://hub.example/.well-known/mercure/subscriptions/../..",
      "https://hub.example/.well-known/mercure/subscriptions/%2e%2e/%2e%2e?x",
      "/.well-known/mercure/subscriptions/a/b",
    ];
    for (const [index, topic] of spellings.entries()) {
      const answer = await post(topic, `forged-${index}`);
      // 400 for a dot segment, 403 for a topic of the hub's: refused either way.
      assert.ok(answer.status === 400 || answer.status === 403, `${topic}: ${answer.status} ${await answer.text()}`);
    }
    // A real subscription update, so that the stream is read up to a known point.
    const probe = await fetch(`${gw.url}/.well-known/mercure?topic=probe`, { headers: { authorization: `Bearer ${watcher}` }, signal: controller.signal });
    assert.equal(probe.status, 200);
    const text = await readUntil(stream.body!, "probe");
    assert.match(text, /"topic":"probe"/);
    assert.doesNotMatch(text, /forged/);
    controller.abort();
  });
});

// mercure.publish selectors match a topic as written, URL Pattern subscribers as a URL resolves
// it: a publisher allowed https://example.com/books/{+rest} published books/../admin/x, and
// subscribers of the URL Pattern https://example.com/admin/:x received it.
describe("a publisher cannot leave its mercure.publish topics with dot segments", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, MERCURE_ANONYMOUS: "1" });
  });
  after(() => gw.stop());

  it("answers 400 for a topic with a . or .. segment, as written or percent-encoded, and delivers none of them", async () => {
    const controller = new AbortController();
    const stream = await fetch(`${gw.url}/.well-known/mercure?match_urlpattern=${encodeURIComponent("https://example.com/admin/:x")}&match_urlpattern=${encodeURIComponent("https://example.com/")}`, { signal: controller.signal });
    assert.equal(stream.status, 200);
    const publisher = await sign({ mercure: { publish: ["https://example.com/books/{+rest}", "https://example.com/admin/probe"] } }, PUBLISHER_KEY);
    const post = (topic: string, data: string) =>
      fetch(`${gw.url}/.well-known/mercure`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${publisher}` },
        body: new URLSearchParams([["topic", topic], ["data", data]]).toString(),
      });
    const escapes = ["https://example.com/books/../admin/x", "https://example.com/books/%2e%2e/admin/x", "https://example.com/books/.%2E/admin/x", "https://example.com/books/./../admin/x", "https://example.com/books/%2e%2e", "https://example.com/books/x/..?q"];
    for (const [index, topic] of escapes.entries()) {
      const answer = await post(topic, `escaped-${index}`);
      assert.equal(answer.status, 400, `${topic}: ${answer.status}`);
      assert.match(((await answer.json()) as { message: string }).message, /dot segment/);
    }
    for (const ordinary of ["https://example.com/books/1..2", "https://example.com/books/.hidden", "https://example.com/books/a/...", "https://example.com/books/a?next=/../x"]) {
      assert.equal((await post(ordinary, "fine")).status, 200, ordinary);
    }
    assert.equal((await post("https://example.com/admin/probe", "probe")).status, 200);
    const text = await readUntil(stream.body!, "data: probe");
    assert.match(text, /data: probe/);
    assert.doesNotMatch(text, /escaped/);
    controller.abort();
  });
});
