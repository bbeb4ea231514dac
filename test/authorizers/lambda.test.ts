import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { publish, startGateway, type RunningGateway } from "../support/gateway.ts";
import { handler, startLambdaStandIn, type LambdaStandIn } from "../support/lambda-stand-in.ts";
import { connectSse } from "../support/sse-client.ts";

// AWS Lambda itself cannot run here: the function is answered by a local stand-in that speaks the
// Lambda Invoke REST API to the real @aws-sdk/client-lambda. The SDK signs its requests, so it
// needs credentials; any will do for the stand-in.
process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:app-authorizer";
const METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:sse-gateway/$default/GET/events";

/** The application's sessions, as its authorizer knows them. */
const USERS: Record<string, { id: string; topics: string }> = {
  "alice-token": { id: "alice", topics: "news,orders.alice" },
  "bob-token": { id: "bob", topics: "news,orders.bob" },
};

/**
 * An authorizer as a team writes it for an API Gateway WebSocket `$connect` route (its token in
 * the query string, since browsers cannot set headers there), used here without a change: it throws
 * "Unauthorized" for an unknown token and allows the method it was asked about otherwise.
 */
function connectAuthorizer(event: any) {
  const user = USERS[event.queryStringParameters.access_token];
  if (!user) throw new Error("Unauthorized");
  return {
    principalId: user.id,
    policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: "Allow", Resource: event.methodArn }] },
    context: { topics: user.topics, plan: "pro" },
  };
}

const policy = (effect: string, resource: unknown, extra: Record<string, unknown> = {}) => ({
  principalId: "carol",
  policyDocument: { Version: "2012-10-17", Statement: [{ Action: "execute-api:Invoke", Effect: effect, Resource: resource }] },
  ...extra,
});

async function refusal(url: string, query: string) {
  const response = await fetch(`${url}/events?${query}`);
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: (await response.json()) as { error: string; message: string } };
}

async function opens(url: string, query: string): Promise<number> {
  const response = await fetch(`${url}/events?${query}`);
  await response.body?.cancel();
  return response.status;
}

describe("Lambda authorizer", () => {
  let lambda: LambdaStandIn;
  let gw: RunningGateway;
  let simple: RunningGateway;
  before(async () => {
    lambda = await startLambdaStandIn(handler(connectAuthorizer));
    const common = { AUTH_LAMBDA_ARN: FUNCTION_ARN, AUTH_LAMBDA_ENDPOINT: lambda.endpoint, AUTH_WEBHOOK_TIMEOUT_MS: "500", MAX_CONNECTIONS_PER_USER: "100" };
    gw = await startGateway(common);
    simple = await startGateway({ ...common, AUTH_LAMBDA_USER_ID_KEY: "context.userId", AUTH_LAMBDA_TOPICS_KEY: "context.allowed" });
  });
  after(async () => {
    await gw.stop();
    await simple.stop();
    await lambda.stop();
  });
  beforeEach(() => {
    lambda.handle(handler(connectAuthorizer));
    lambda.invocations.length = 0;
  });

  it("runs a $connect authorizer unchanged: the stream opens with its principal and context topics", async () => {
    const stream = await connectSse(gw.url, { token: "alice-token", tokenInQuery: true, topics: ["orders.alice"], headers: { cookie: "app=1", origin: "https://app.example" } });
    assert.equal(stream.status, 200);
    await publish(gw.url, { users: ["alice"], type: "private", data: 1 });
    await publish(gw.url, { topics: ["orders.alice"], type: "order", data: 2 });
    assert.deepEqual((await stream.waitFor(2)).map((event) => event.event), ["private", "order"]);
    stream.close();
  });

  it("invokes the function synchronously with an API Gateway REQUEST authorizer event", async () => {
    const stream = await connectSse(gw.url, { token: "alice-token", tokenInQuery: true, topics: ["news"], headers: { cookie: "app=1", "x-forwarded-for": "198.51.100.7, 203.0.113.9" } });
    stream.close();
    assert.equal(lambda.invocations.length, 1);
    const [{ functionName, invocationType, event }] = lambda.invocations as [any];
    assert.equal(functionName, FUNCTION_ARN);
    assert.equal(invocationType, "RequestResponse");
    assert.equal(event.type, "REQUEST");
    assert.equal(event.methodArn, METHOD_ARN);
    assert.deepEqual(event.headers, {
      cookie: "app=1",
      Cookie: "app=1",
      "x-forwarded-for": "198.51.100.7, 203.0.113.9",
      "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
    });
    assert.deepEqual(event.multiValueHeaders.cookie, ["app=1"]);
    assert.deepEqual(event.queryStringParameters, { topic: "news", access_token: "alice-token" });
    assert.deepEqual(event.multiValueQueryStringParameters, { topic: ["news"], access_token: ["alice-token"] });
    assert.equal(event.requestContext.routeKey, "$connect");
    assert.equal(event.requestContext.eventType, "CONNECT");
    assert.equal(event.requestContext.accountId, "123456789012");
    assert.equal(event.requestContext.identity.sourceIp, "203.0.113.9");
    assert.equal(typeof event.requestContext.requestId, "string");
  });

  it("passes on the function's Unauthorized as 401 authorizer_denied", async () => {
    const result = await refusal(gw.url, "access_token=stolen");
    assert.equal(result.status, 401);
    assert.deepEqual(result.body, { error: "authorizer_denied", message: "Unauthorized" });
  });

  const policyCases: Array<[string, unknown, number]> = [
    ["an explicit Deny", policy("Deny", METHOD_ARN), 403],
    ["an Allow of another resource", policy("Allow", "arn:aws:execute-api:eu-west-1:123456789012:other-api/*"), 403],
    ["an Allow with a Deny of the same resource", { principalId: "carol", policyDocument: { Statement: [{ Action: "execute-api:*", Effect: "Allow", Resource: "*" }, { Action: "execute-api:Invoke", Effect: "Deny", Resource: `${METHOD_ARN.split("/")[0]}/*` }] } }, 403],
    ["an Allow by wildcard stage and method", policy("Allow", METHOD_ARN.replace("$default/GET/events", "*/GET/*")), 200],
    ["an Allow of a list of resources", policy("Allow", ["arn:aws:execute-api:eu-west-1:123456789012:x/*", METHOD_ARN]), 200],
  ];
  for (const [what, answer, status] of policyCases) {
    it(`evaluates the policy as API Gateway does: ${what} answers ${status}`, async () => {
      lambda.handle(() => ({ returns: answer }));
      const query = `case=${encodeURIComponent(what)}`;
      if (status === 200) assert.equal(await opens(gw.url, query), 200);
      else assert.deepEqual((await refusal(gw.url, query)).body.error, "authorizer_denied");
    });
  }

  it("understands the simple answer, with configured context keys and topics as a JSON array", async () => {
    lambda.handle(() => ({ returns: { isAuthorized: true, context: { userId: "dana", allowed: '["orders.*"]' } } }));
    const stream = await connectSse(simple.url, { token: "dana-token", tokenInQuery: true, topics: ["orders.7"] });
    assert.equal(stream.status, 200);
    await publish(simple.url, { users: ["dana"], type: "private", data: 1 });
    await publish(simple.url, { topics: ["orders.7"], type: "order", data: 2 });
    assert.deepEqual((await stream.waitFor(2)).map((event) => event.event), ["private", "order"]);
    stream.close();
    const outside = await refusal(simple.url, "access_token=dana-token&topic=news");
    assert.equal(outside.status, 403);
    assert.equal(outside.body.error, "topic_not_allowed");
  });

  it("refuses a simple answer that does not authorize with 403", async () => {
    lambda.handle(() => ({ returns: { isAuthorized: false } }));
    const result = await refusal(simple.url, "case=nobody");
    assert.equal(result.status, 403);
    assert.equal(result.body.error, "authorizer_denied");
  });

  const malformed: Array<[string, unknown]> = [
    ["a simple answer without the configured user id key", { isAuthorized: true, context: {} }],
    ["neither form", { principalId: "x" }],
    ["a statement without Effect", { principalId: "x", policyDocument: { Statement: [{ Action: "execute-api:Invoke", Resource: "*" }] } }],
    ["topics that are not a list", policy("Allow", "*", { context: { topics: 7 } })],
    ["topics with broken JSON", policy("Allow", "*", { context: { topics: "[oops" } })],
    ["null", null],
    ["an answer over 64 KiB", policy("Allow", "*", { context: { topics: "x".repeat(70_000) } })],
  ];
  for (const [what, answer] of malformed) {
    it(`answers 502 for ${what}`, async () => {
      lambda.handle(() => ({ returns: answer }));
      const result = await refusal(gw.url, `case=${encodeURIComponent(what)}`);
      assert.equal(result.status, 502);
      assert.equal(result.body.error, "authorizer_invalid_answer");
    });
  }

  it("answers 503 with Retry-After for a function error other than Unauthorized, an API error and a timeout", async () => {
    const failures: Array<[string, Parameters<LambdaStandIn["handle"]>[0]]> = [
      ["crash", () => ({ throws: { errorType: "TypeError", errorMessage: "Cannot read properties of undefined (reading 'token')" } })],
      ["function timeout", () => ({ throws: { errorType: "Sandbox.Timedout", errorMessage: "Task timed out after 3.00 seconds" } })],
      ["throttled", () => ({ apiError: { status: 429, type: "TooManyRequestsException" } })],
      ["not found", () => ({ apiError: { status: 404, type: "ResourceNotFoundException" } })],
      ["slow", () => ({ returns: policy("Allow", "*"), delayMs: 3000 })],
    ];
    for (const [what, outcome] of failures) {
      lambda.handle(outcome);
      const started = Date.now();
      const result = await refusal(gw.url, `case=${encodeURIComponent(what)}`);
      assert.equal(result.status, 503, what);
      assert.equal(result.body.error, "authorizer_unavailable", what);
      assert.match(result.retryAfter ?? "", /^[1-3]$/, what);
      assert.ok(Date.now() - started < 2500, `${what}: bounded by AUTH_WEBHOOK_TIMEOUT_MS`);
    }
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    for (const reason of ["function_error", "invoke_error", "timeout"]) {
      assert.match(metrics, new RegExp(`sse_gateway_authorizer_failures_total\\{authorizer="lambda",reason="${reason}"\\} [1-9]`));
    }
  });

  it("invokes once per session: later opens and simultaneous ones share the decision", async () => {
    lambda.handle((event) => ({ ...handler(connectAuthorizer)(event), delayMs: 50 }));
    const statuses = await Promise.all(Array.from({ length: 50 }, () => opens(gw.url, "access_token=bob-token")));
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(await opens(gw.url, "access_token=bob-token"), 200);
    assert.equal(lambda.invocations.length, 1);
  });

  it("keeps users apart: a user allowed by the function never receives another user's events", async () => {
    const alice = await connectSse(gw.url, { token: "alice-token", tokenInQuery: true, topics: ["orders.alice"] });
    const bob = await connectSse(gw.url, { token: "bob-token", tokenInQuery: true, topics: ["orders.bob"] });
    await publish(gw.url, { users: ["alice"], type: "for-alice", data: 1 });
    await publish(gw.url, { topics: ["orders.alice"], type: "for-alice", data: 2 });
    await publish(gw.url, { users: ["bob"], type: "for-bob", data: 3 });
    assert.deepEqual((await alice.waitFor(2)).map((event) => event.event), ["for-alice", "for-alice"]);
    assert.deepEqual((await bob.waitFor(1)).map((event) => event.event), ["for-bob"]);
    assert.ok(!bob.events.some((event) => event.event === "for-alice"));
    assert.equal((await refusal(gw.url, "access_token=bob-token&topic=orders.alice")).status, 403, "bob cannot ask for alice's topic");
    alice.close();
    bob.close();
  });
});
