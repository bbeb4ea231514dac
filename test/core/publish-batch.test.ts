import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import fastify, { type FastifyInstance } from "fastify";
import { BusOutcomeUnknownError, type EventBus } from "../../src/bus/event-bus.ts";
import { MemoryBus } from "../../src/bus/memory-bus.ts";
import type { EventDraft } from "../../src/events/event.ts";
import { Publisher } from "../../src/events/publisher.ts";
import { installErrorHandler } from "../../src/http/errors.ts";
import { publishBatchRoute } from "../../src/http/publish-batch-route.ts";
import { MAX_BATCH_EVENTS } from "../../src/events/publish-request.ts";
import { publish, publisherToken, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";

async function publishBatch(url: string, body: unknown, authToken?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(new URL("/publish/batch", url), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${authToken ?? (await publisherToken())}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe("POST /publish/batch", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MAX_EVENT_BYTES: "1024" });
  });
  after(() => gw.stop());

  it("delivers each event to its own recipients, in the batch's order, and answers each id", async () => {
    const [ann, bob] = await Promise.all([
      connectSse(gw.url, { token: await token({ sub: "ann" }) }),
      connectSse(gw.url, { token: await token({ sub: "bob", topics: ["news"] }), path: "/events?topic=news" }),
    ]);
    const answer = await publishBatch(gw.url, {
      events: [
        { users: ["ann"], type: "upload.done", data: { n: 1 } },
        { users: ["bob"], type: "upload.done", data: { n: 2 } },
        { topics: ["news"], type: "headline", data: "x" },
        { users: ["ann"], type: "upload.done", data: { n: 3 } },
      ],
    });
    assert.equal(answer.status, 202, JSON.stringify(answer.body));
    assert.equal(answer.body.accepted, 4);
    assert.equal(answer.body.results.length, 4);
    for (const result of answer.body.results) assert.deepEqual(Object.keys(result).sort(), ["duplicate", "id"]);
    const annEvents = await ann.waitFor(2, (event) => event.event === "upload.done");
    assert.deepEqual(annEvents.map((event) => JSON.parse(event.data).n), [1, 3]);
    assert.deepEqual(annEvents.map((event) => event.id), [answer.body.results[0].id, answer.body.results[3].id]);
    const bobEvents = await bob.waitFor(2, (event) => event.event !== undefined && !event.event.startsWith("gateway."));
    assert.deepEqual(bobEvents.map((event) => event.event), ["upload.done", "headline"]);
    ann.close();
    bob.close();
  });

  it("refuses the whole batch, naming the event, when one event is wrong; nothing is published", async () => {
    const carl = await connectSse(gw.url, { token: await token({ sub: "carl" }) });
    const cases: [unknown, number, string, RegExp][] = [
      [{ events: [{ users: ["carl"], type: "ok" }, { users: ["carl"], type: "gateway.x" }] }, 400, "invalid_body", /body\.events\[1\]\.type/],
      [{ events: [{ users: ["carl"], type: "ok" }, { type: "no-recipient" }] }, 400, "invalid_body", /body\.events\[1\] must name at least one recipient/],
      [{ events: [{ users: ["carl"], type: "ok", data: "y".repeat(2000) }] }, 400, "invalid_body", /body\.events\[0\]\.data is larger than MAX_EVENT_BYTES/],
      [{ events: [{ users: ["carl"], type: "ok", extra: 1 }] }, 400, "invalid_body", /body\.events\[0\] has an unknown field "extra"/],
      [{ events: [{ users: ["\ud800"], type: "ok" }] }, 400, "invalid_body", /body\.events\[0\] holds/],
      [{ events: [] }, 400, "invalid_body", /body\.events must have at least 1 items/],
      [{ events: Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ({ users: ["carl"], type: "ok" })) }, 400, "invalid_body", /at most 100 items/],
      [{ events: [{ users: ["carl"], type: "ok" }], event: [] }, 400, "invalid_body", /unknown field "event"/],
      [[], 400, "invalid_body", /body must be an object/],
      ["{not json", 400, "invalid_json", /not valid JSON/],
    ];
    for (const [body, status, code, message] of cases) {
      const answer = await publishBatch(gw.url, body);
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      assert.deepEqual(Object.keys(answer.body).sort(), ["error", "message"]);
      assert.equal(answer.body.error, code);
      assert.match(answer.body.message, message);
    }
    const limited = await token({ sub: "svc", publish: ["user:carl"] });
    const refused = await publishBatch(gw.url, { events: [{ users: ["carl"], type: "ok" }, { users: ["dora"], type: "ok" }] }, limited);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, "publish_not_allowed");
    assert.match(refused.body.message, /"user:dora".*body\.events\[1\]/);
    // A marker published after every refusal is the first event carl sees.
    assert.equal((await publish(gw.url, { users: ["carl"], type: "marker" })).status, 202);
    const [first] = await carl.waitFor(1, (event) => event.event !== undefined && !event.event.startsWith("gateway."));
    assert.equal(first!.event, "marker");
    carl.close();
  });

  it("answers 413 batch_too_large above its body limit, and 401 without a publisher token", async () => {
    const big = { events: [{ users: ["x"], type: "t", data: "z".repeat(1024 * 1024) }] };
    const tooLarge = await publishBatch(gw.url, big);
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.error, "batch_too_large");
    const response = await fetch(new URL("/publish/batch", gw.url), { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error, "token_missing");
  });

  it("207: an event whose id was used for other content is refused alone, the others are accepted", async () => {
    const first = await publishBatch(gw.url, { events: [{ users: ["erin"], type: "t", data: 1, id: "job-1" }] });
    assert.equal(first.status, 202);
    const again = await publishBatch(gw.url, {
      events: [
        { users: ["erin"], type: "t", data: 1, id: "job-1" },
        { users: ["erin"], type: "t", data: 2, id: "job-1" },
        { users: ["erin"], type: "t", data: 3 },
      ],
    });
    assert.equal(again.status, 207, JSON.stringify(again.body));
    assert.equal(again.body.accepted, 2);
    assert.deepEqual(again.body.results[0], { id: first.body.results[0].id, duplicate: true });
    assert.equal(again.body.results[1].error, "idempotency_conflict");
    assert.equal(again.body.results[2].duplicate, false);
  });

  it("delivers exactly the events of any batch, once each and in order per user (property)", async () => {
    const users = ["p0", "p1", "p2"];
    const streams = await Promise.all(users.map(async (sub) => connectSse(gw.url, { token: await token({ sub }) })));
    const expected = new Map(users.map((user) => [user, [] as number[]]));
    let sequence = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.subarray(users, { minLength: 1 }), { minLength: 1, maxLength: 20 }), async (recipients) => {
        const events = recipients.map((to) => ({ users: to, type: "prop", data: sequence++ }));
        const answer = await publishBatch(gw.url, { events });
        assert.equal(answer.status, 202);
        events.forEach((event) => event.users.forEach((user) => expected.get(user)!.push(event.data)));
      }),
      { numRuns: 15 },
    );
    for (const [index, user] of users.entries()) {
      const want = expected.get(user)!;
      const got = await streams[index]!.waitFor(want.length, (event) => event.event === "prop");
      assert.deepEqual(got.map((event) => JSON.parse(event.data)), want, user);
      streams[index]!.close();
    }
  });
});

describe("POST /publish/batch: MAX_BATCH_RECIPIENTS", () => {
  const cap = 6;
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MAX_BATCH_RECIPIENTS: String(cap) });
  });
  after(() => gw.stop());

  it("accepts the cap of recipients in all the events, refuses one more with 413 batch_too_large and publishes nothing", async () => {
    const dora = await connectSse(gw.url, { token: await token({ sub: "dora" }) });
    // A name twice in one event counts once; in two events, twice (two history writes).
    const atCap = { events: [{ users: ["dora", "dora", "x1"], topics: ["t1"], type: "cap" }, { users: ["dora", "x2"], topics: ["t2"], type: "cap" }] };
    const accepted = await publishBatch(gw.url, atCap);
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const overCap = { events: [...atCap.events, { users: ["dora"], type: "over" }] };
    const refused = await publishBatch(gw.url, overCap);
    assert.equal(refused.status, 413);
    assert.equal(refused.body.error, "batch_too_large");
    assert.match(refused.body.message, /7 recipients together, more than MAX_BATCH_RECIPIENTS \(6\)/);
    await publish(gw.url, { users: ["dora"], type: "marker" });
    const seen = await dora.waitFor(3, (event) => event.event !== undefined && !event.event.startsWith("gateway."));
    assert.deepEqual(seen.map((event) => event.event), ["cap", "cap", "marker"]);
    dora.close();
  });

  it("accepts a batch exactly when its distinct recipients per event add up to the cap at most (property)", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "q0" }) });
    const names = ["q0", "q1", "q2", "q3"];
    const expected: number[] = [];
    let sequence = 0;
    const event = fc.record({ users: fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 5 }), topics: fc.array(fc.constantFrom("a", "b"), { maxLength: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 4 }), async (drafts) => {
        const events = drafts.map((draft) => ({ ...draft, type: "prop", data: sequence++ }));
        const recipients = events.reduce((sum, each) => sum + new Set(each.users).size + new Set(each.topics).size, 0);
        const answer = await publishBatch(gw.url, { events });
        assert.equal(answer.status, recipients <= cap ? 202 : 413, `${recipients} recipients: ${JSON.stringify(answer.body)}`);
        if (answer.status === 202) for (const each of events) if (each.users.includes("q0")) expected.push(each.data);
      }),
      { numRuns: 40 },
    );
    await publish(gw.url, { users: ["q0"], type: "prop", data: -1 });
    const got = await stream.waitFor(expected.length + 1, (each) => each.event === "prop");
    assert.deepEqual(got.map((each) => JSON.parse(each.data)), [...expected, -1]);
    stream.close();
  });
});

// Found by an attack pass: a batch whose event timed out in Redis answered that event "not
// accepted: retry", yet Redis still carries a timed-out command out; retried as told, it is twice.
describe("POST /publish/batch: a bus call whose outcome is unknown", () => {
  let app: FastifyInstance;
  let url: string;
  before(async () => {
    let calls = 0;
    // The memory bus, with its second publish timing out after Redis took it: what the Redis bus reports then.
    const bus = new MemoryBus({ maxEvents: 100, maxAgeMs: 60_000, idempotencyWindowMs: 60_000 });
    const timingOut = {
      publish: async (draft: EventDraft) => {
        const result = await bus.publish(draft);
        if (++calls === 2) throw new BusOutcomeUnknownError("publishing in Redis failed: Command timed out");
        return result;
      },
    } as unknown as EventBus;
    const verifier = { verify: async () => ({ userId: "svc", topicPatterns: [], publishPatterns: ["*"], expiresAt: undefined }) };
    app = fastify();
    installErrorHandler(app, () => undefined);
    await app.register(publishBatchRoute, { publisher: new Publisher(timingOut, () => undefined), verifier, maxEventBytes: 65_536, maxBatchRecipients: 100 });
    url = await app.listen({ port: 0, host: "127.0.0.1" });
  });
  after(() => app.close());

  it("says of that event that it may have been taken (retry with the same id), and of the later ones that they were not accepted", async () => {
    const events = ["a", "b", "c"].map((id) => ({ users: ["u"], type: "t", id }));
    const response = await fetch(`${url}/publish/batch`, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer x" }, body: JSON.stringify({ events }) });
    const body = (await response.json()) as { accepted: number; results: { error?: string; message?: string }[] };
    assert.equal(response.status, 207);
    assert.equal(body.accepted, 1);
    assert.equal(body.results[1]!.error, "unavailable");
    assert.match(body.results[1]!.message!, /may have been taken/);
    assert.match(body.results[1]!.message!, /same `id`/);
    assert.equal(body.results[2]!.error, "unavailable");
    assert.match(body.results[2]!.message!, /not accepted/);
  });
});
