import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { publishAllows } from "../../src/auth/topic-patterns.ts";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";

// Findings 3 and 4: idempotency keys and publish patterns must not cross between publishers,
// nor between the topic and the user name spaces.
for (const bus of ["memory", "redis"] as const) {
  describe(`publishers stay in their own lanes (${bus} bus)`, () => {
    let gw: RunningGateway;
    let redis: TestRedis | undefined;
    before(async () => {
      redis = bus === "redis" ? await startTestRedis() : undefined;
      gw = await startGateway(redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `scope-${process.pid}:` } : {});
    });
    after(async () => {
      await gw.stop();
      await redis?.stop();
    });

    it("scopes idempotency keys to the publisher: another publisher's key does not swallow an event", async () => {
      const news = await token({ sub: "news-service", publish: ["topic:news"] });
      const uploads = await token({ sub: "upload-service", publish: ["user:*"] });
      const stream = await connectSse(gw.url, { token: await token({ sub: "erin" }) });
      const first = await publish(gw.url, { topics: ["news"], type: "headline", id: "upload-42-done", data: 1 }, news);
      assert.equal(first.status, 202);
      const second = await publish(gw.url, { users: ["erin"], type: "upload.done", id: "upload-42-done", data: 2 }, uploads);
      assert.equal(second.status, 202);
      assert.equal(second.body.duplicate, false);
      assert.notEqual(second.body.id, first.body.id);
      const [event] = await stream.waitFor(1);
      assert.equal(event!.event, "upload.done");
      stream.close();
    });

    it("answers 409 to a repeat of a key with other content, and a duplicate to the same content", async () => {
      const publisher = await token({ sub: "billing", publish: ["*"] });
      const body = { users: ["fay", "gus"], type: "invoice", id: "inv-7", data: { total: 10 } };
      const first = await publish(gw.url, body, publisher);
      assert.equal(first.status, 202);
      const same = await publish(gw.url, { ...body, users: ["gus", "fay"] }, publisher);
      assert.deepEqual(same.body, { id: first.body.id, duplicate: true });
      for (const changed of [{ data: { total: 11 } }, { type: "invoice.v2" }, { users: ["fay"] }, { topics: ["billing"] }]) {
        const conflict = await publish(gw.url, { ...body, ...changed }, publisher);
        assert.equal(conflict.status, 409, JSON.stringify(changed));
        assert.equal(conflict.body.error, "idempotency_conflict");
        assert.match(conflict.body.message, new RegExp(first.body.id));
      }
    });

    it("keeps topic patterns from reaching users", async () => {
      for (const [pattern, user] of [["u*", "bob"], ["*-alerts", "ops-alerts"], ["topic:*", "bob"], ["*:bob", "bob"]] as const) {
        const publisher = await token({ sub: "p", publish: [pattern] });
        const answer = await publish(gw.url, { users: [user], type: "t" }, publisher);
        assert.equal(answer.status, 403, `${pattern} must not publish to user ${user}`);
        assert.equal(answer.body.error, "publish_not_allowed");
      }
    });

    it("keeps user patterns from reaching topics, and reads the namespaces as documented", async () => {
      const cases: [string[], { users?: string[]; topics?: string[] }, number][] = [
        [["user:*"], { topics: ["news"] }, 403],
        [["user:*"], { users: ["anyone"] }, 202],
        [["user:team-*"], { users: ["team-a"] }, 202],
        [["user:team-*"], { users: ["other"] }, 403],
        [["topic:news.*"], { topics: ["news.eu"] }, 202],
        [["topic:news.*"], { users: ["news.eu"] }, 403],
        // A pattern without a namespace is a topic pattern, as it always was.
        [["news.*"], { topics: ["news.eu"] }, 202],
        [["news.*"], { users: ["news.eu"] }, 403],
        [["*"], { users: ["a"], topics: ["b"] }, 202],
        [["user:a", "topic:b"], { users: ["a"], topics: ["b"] }, 202],
        [["user:a"], { users: ["a"], topics: ["b"] }, 403],
      ];
      for (const [patterns, recipients, status] of cases) {
        const publisher = await token({ sub: "p", publish: patterns });
        const answer = await publish(gw.url, { ...recipients, type: "t" }, publisher);
        assert.equal(answer.status, status, `${JSON.stringify(patterns)} -> ${JSON.stringify(recipients)}`);
      }
    });
  });

}

describe("publish claim name spaces (property)", () => {
  const name = fc.string({ unit: fc.constantFrom("a", "b", ":", "*", "-", ".", "u", "s", "e", "r", "t"), minLength: 1, maxLength: 12 });

  it("a pattern reaches users only through `user:` (or `*` alone), and topics never through `user:`", () => {
    fc.assert(
      fc.property(fc.array(name, { maxLength: 4 }), name, (patterns, target) => {
        const everything = patterns.includes("*");
        if (!everything && !patterns.some((p) => p.startsWith("user:"))) assert.equal(publishAllows(patterns, { kind: "user", name: target }), false);
        if (!everything && patterns.every((p) => p.startsWith("user:"))) assert.equal(publishAllows(patterns, { kind: "topic", name: target }), false);
        // The same text as a topic pattern and as a user pattern addresses the same name.
        for (const p of patterns) {
          if (p === "*" || p.startsWith("user:") || p.startsWith("topic:")) continue;
          assert.equal(publishAllows([`user:${p}`], { kind: "user", name: target }), publishAllows([p], { kind: "topic", name: target }));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
