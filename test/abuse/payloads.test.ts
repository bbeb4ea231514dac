import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { MAX_DATA_DEPTH, PublishRequestError, parsePublishRequest } from "../../src/events/publish-request.ts";
import { defaultRouting } from "../../src/ingest/sqs/eventbridge-routing.ts";
import { readMessageBody } from "../../src/ingest/sqs/message-body.ts";
import { PoisonMessageError } from "../../src/ingest/sqs/poison-message.ts";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { eventBridgeEvent } from "../support/sqs.ts";

/** JSON text nested `depth` levels deep (arrays and objects in turn), built as text: it cannot be serialised. */
function deepJson(depth: number): string {
  if (depth > 1000) return "[".repeat(depth) + "]".repeat(depth);
  let open = "";
  let close = "";
  for (let i = 0; i < depth; i++) {
    open += i % 2 === 0 ? '{"a":' : "[";
    close = (i % 2 === 0 ? "}" : "]") + close;
  }
  return `${open}1${close}`;
}

// Finding 8: data nested 20,000 levels deep answered 500 (RangeError in JSON.stringify), and
// from SQS counted as a handler error, not as poison. Finding 9: the reserved prefix could be
// dodged, and ids with lone surrogates were accepted.
describe("publish bodies that are built to hurt", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it("refuses data nested deeper than the limit with 400 naming the limit, at any depth up to 20,000", async () => {
    for (const depth of [MAX_DATA_DEPTH + 1, 1000, 20_000]) {
      const answer = await publish(gw.url, `{"users":["u"],"type":"t","data":${deepJson(depth)}}`);
      assert.equal(answer.status, 400, `depth ${depth}`);
      assert.equal(answer.body.error, "invalid_body");
      assert.match(answer.body.message, new RegExp(`body\\.data .*${MAX_DATA_DEPTH} levels`));
    }
    const atLimit = await publish(gw.url, `{"users":["u"],"type":"t","data":${deepJson(MAX_DATA_DEPTH)}}`);
    assert.equal(atLimit.status, 202);
  });

  it("treats deep data from SQS (both shapes) and the inbox as poison, not as a handler error", () => {
    const deep = deepJson(20_000);
    const eventBridge = JSON.stringify(eventBridgeEvent("t", { userId: "u", deep: "DEEP" })).replace('"DEEP"', deep);
    const bodies = [`{"users":["u"],"type":"t","data":${deep}}`, eventBridge];
    for (const body of bodies) {
      assert.throws(() => readMessageBody(body, defaultRouting, 1 << 20), (error: unknown) => error instanceof PoisonMessageError && error.reason === "invalid");
    }
    // The inbox reads entries through the same check.
    assert.throws(() => parsePublishRequest({ users: ["u"], type: "t", data: JSON.parse(deep) }), PublishRequestError);
  });

  it("refuses the reserved prefix however it is spelt", async () => {
    for (const type of ["gateway.refetch", " gateway.refetch", "GATEWAY.refetch", "\u00a0Gateway.draining", "\u2003gAtEwAy.x", "\ufeffgateway.x"]) {
      const answer = await publish(gw.url, { users: ["u"], type });
      assert.equal(answer.status, 400, JSON.stringify(type));
      assert.match(answer.body.message, /`gateway\.` is reserved/);
    }
    assert.equal((await publish(gw.url, { users: ["u"], type: "gateways.ok" })).status, 202);
    assert.equal((await publish(gw.url, { users: ["u"], type: "my.gateway.event" })).status, 202);
  });

  it("refuses user ids and idempotency keys that are not well-formed Unicode", async () => {
    for (const body of [
      { users: ["x\udbff"], type: "t" },
      { users: ["ok", "\ud800"], type: "t" },
      { users: ["u"], type: "t", id: "key-\udc00" },
      { users: ["u"], type: "t\ud800" },
    ]) {
      const answer = await publish(gw.url, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error, "invalid_body");
      assert.match(answer.body.message, /well-formed Unicode/);
    }
  });

  it("keeps users whose ids differ only in lone surrogates apart (they cannot exist)", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "x\ud800" }) });
    assert.equal(stream.status, 401);
    const valid = await connectSse(gw.url, { token: await token({ sub: "x\ud83d\ude00" }) });
    assert.equal(valid.status, 200);
    assert.equal((await publish(gw.url, { users: ["x\ud83d\ude00"], type: "t" })).status, 202);
    assert.equal((await valid.waitFor(1))[0]!.event, "t");
    valid.close();
  });

  it("never answers 5xx to any JSON value as data (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ depthSize: "large" }), fc.string(), async (data, type) => {
        const answer = await publish(gw.url, { users: ["prop"], type, data });
        assert.ok(answer.status < 500, `${answer.status} ${JSON.stringify(answer.body)}`);
      }),
      { numRuns: 150 },
    );
  });
});
