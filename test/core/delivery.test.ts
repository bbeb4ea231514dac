import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";

describe("subscribe and publish", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ CORS_ORIGINS: "https://app.example" });
  });
  after(() => gw.stop());

  it("answers with SSE headers and a retry hint at once", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "h" }) });
    assert.equal(stream.status, 200);
    assert.match(String(stream.headers["content-type"]), /^text\/event-stream/);
    assert.equal(stream.headers["cache-control"], "no-cache, no-transform");
    assert.equal(stream.headers["x-accel-buffering"], "no");
    assert.equal(stream.headers["content-encoding"], undefined);
    assert.ok(stream.headers["x-request-id"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.match(stream.raw(), /^retry: \d+\n\n/);
    stream.close();
  });

  it("keeps users and topics apart", async () => {
    const alice = await connectSse(gw.url, { token: await token({ sub: "alice", topics: ["news"] }), topics: ["news"] });
    const bob = await connectSse(gw.url, { token: await token({ sub: "bob", topics: ["sports"] }), topics: ["sports"] });
    assert.equal((await publish(gw.url, { users: ["alice"], type: "private", data: { to: "alice" } })).status, 202);
    assert.equal((await publish(gw.url, { topics: ["sports"], type: "score", data: 1 })).status, 202);
    assert.equal((await publish(gw.url, { topics: ["news"], users: ["alice"], type: "both", data: 2 })).status, 202);
    await alice.waitFor(2);
    await bob.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(alice.events.map((event) => event.event), ["private", "both"], "an event for a user and a topic arrives once");
    assert.deepEqual(bob.events.map((event) => event.event), ["score"]);
    alice.close();
    bob.close();
  });

  it("frames multi-line and unicode payloads so they arrive intact", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "carol" }) });
    const data = { text: "line one\nline two\r\nline three\rend", emoji: "😀 ☃ ü", separators: "\u2028\u2029", nested: { a: [1, null, true] } };
    const { body } = await publish(gw.url, { users: ["carol"], type: "file.processed", data });
    const [event] = await stream.waitFor(1);
    assert.equal(event!.id, body.id);
    assert.equal(event!.event, "file.processed");
    assert.deepEqual(JSON.parse(event!.data), data);
    assert.match(stream.raw(), new RegExp(`id: ${body.id}\nevent: file.processed\ndata: \\{[^\\n]*\\}\n\n`));
    stream.close();
  });

  it("sends CORS headers with credentials to allowed origins only", async () => {
    const subscriber = await token({ sub: "dave" });
    const allowed = await connectSse(gw.url, { token: subscriber, headers: { origin: "https://app.example" } });
    assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example");
    assert.equal(allowed.headers["access-control-allow-credentials"], "true");
    allowed.close();
    const other = await connectSse(gw.url, { token: subscriber, headers: { origin: "https://evil.example" } });
    assert.equal(other.headers["access-control-allow-origin"], undefined);
    other.close();
  });
});

describe("publish validation", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MAX_EVENT_BYTES: "1024" });
  });
  after(() => gw.stop());

  const bad: Array<[string, unknown, RegExp]> = [
    ["no type", { users: ["u"] }, /type/],
    ["no recipient", { type: "t" }, /at least one recipient/],
    ["empty recipients", { type: "t", users: [], topics: [] }, /at least one recipient/],
    ["a bad topic name", { type: "t", topics: ["has space"] }, /topics\[0\]/],
    ["users not a list", { type: "t", users: "alice" }, /users/],
    ["a type with a line break", { type: "a\nb", users: ["u"] }, /type/],
    ["a reserved type", { type: "gateway.refetch", users: ["u"] }, /type/],
    ["an unknown field", { type: "t", users: ["u"], recipients: ["x"] }, /unknown field "recipients"/],
    ["not JSON", "{oops", /JSON/i],
  ];
  for (const [what, body, field] of bad) {
    it(`answers 400 naming the field for ${what}`, async () => {
      const result = await publish(gw.url, body);
      assert.equal(result.status, 400, JSON.stringify(result.body));
      assert.match(result.body.message, field);
    });
  }

  it("answers 413 for a body over MAX_EVENT_BYTES", async () => {
    const result = await publish(gw.url, { type: "t", users: ["u"], data: "x".repeat(2000) });
    assert.equal(result.status, 413);
    assert.equal(result.body.error, "too_large");
  });

  it("delivers once per idempotency key", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "erin" }) });
    const first = await publish(gw.url, { type: "t", users: ["erin"], id: "order-42" });
    const second = await publish(gw.url, { type: "t", users: ["erin"], id: "order-42" });
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(second.body.id, first.body.id);
    assert.equal(second.body.duplicate, true);
    await publish(gw.url, { type: "after", users: ["erin"] });
    await stream.waitFor(2);
    assert.deepEqual(stream.events.map((event) => event.event), ["t", "after"]);
    stream.close();
  });
});
