import assert from "node:assert/strict";
import { test } from "node:test";
import { authorizerEvent } from "../../src/auth/authorizers/lambda-event.ts";

const ARN = "arn:aws:lambda:eu-west-1:123456789012:function:authorizer";

test("the Lambda event carries each forwarded header as an authorizer of either API Gateway kind reads it", () => {
  const event = authorizerEvent(
    {
      headers: { cookie: "session=abc", authorization: "Bearer t", origin: "https://app.example", "user-agent": "ua", "x-forwarded-for": "1.2.3.4" },
      query: {},
      topics: [],
      sourceIp: "1.2.3.4",
    },
    ARN,
  ) as { headers: Record<string, string>; multiValueHeaders: Record<string, string[]> };
  // A REST or WebSocket authorizer sees the names as an HTTP/1.1 browser sent them; one written
  // against HTTP/2 clients or an HTTP API reads them lower-case.
  assert.equal(event.headers.Cookie, "session=abc");
  assert.equal(event.headers.Authorization, "Bearer t");
  assert.equal(event.headers.Origin, "https://app.example");
  assert.equal(event.headers["User-Agent"], "ua");
  assert.equal(event.headers["X-Forwarded-For"], "1.2.3.4");
  assert.equal(event.headers.authorization, "Bearer t");
  assert.deepEqual(event.multiValueHeaders.Cookie, ["session=abc"]);
  assert.deepEqual(event.multiValueHeaders.cookie, ["session=abc"]);
});
