import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";

const secret = () => new Uint8Array(32);
const ARN = "arn:aws:lambda:eu-west-1:123456789012:function:app-authorizer";
const JWT = { JWT_SECRET: "x".repeat(32) };

describe("authorizer configuration", () => {
  it("has no authorizer unless one is set, and defaults for both kinds", () => {
    assert.equal(loadConfig({}, secret).authorizer, undefined);
    assert.deepEqual(loadConfig({ AUTH_WEBHOOK_URL: "https://app.internal/sse-auth" }, secret).authorizer, {
      kind: "webhook",
      url: new URL("https://app.internal/sse-auth"),
      cacheSeconds: 60,
      timeoutMs: 2000,
    });
    assert.deepEqual(loadConfig({ AUTH_LAMBDA_ARN: ARN, AUTH_WEBHOOK_CACHE_S: "0", AUTH_WEBHOOK_TIMEOUT_MS: "500" }, secret).authorizer, {
      kind: "lambda",
      functionArn: ARN,
      region: "eu-west-1",
      endpoint: undefined,
      userIdKey: "principalId",
      topicsKey: "context.topics",
      cacheSeconds: 0,
      timeoutMs: 500,
    });
    const mapped = loadConfig({ AUTH_LAMBDA_ARN: `${ARN}:live`, AUTH_LAMBDA_USER_ID_KEY: "context.userId", AUTH_LAMBDA_TOPICS_KEY: "context.custom:topics" }, secret).authorizer;
    assert.ok(mapped?.kind === "lambda" && mapped.userIdKey === "context.userId" && mapped.topicsKey === "context.custom:topics");
  });

  it("runs in production with an authorizer next to the publishers' JWT configuration", () => {
    const config = loadConfig({ NODE_ENV: "production", AUTH_WEBHOOK_URL: "https://app.internal/sse-auth", ...JWT }, secret);
    assert.equal(config.authorizer?.kind, "webhook");
    assert.equal(config.jwt.kind, "secret");
  });

  const wrong: Array<[string, Record<string, string>, RegExp]> = [
    ["both authorizers", { AUTH_WEBHOOK_URL: "https://a.test/", AUTH_LAMBDA_ARN: ARN }, /either AUTH_WEBHOOK_URL or AUTH_LAMBDA_ARN/],
    ["a webhook URL that is not one", { AUTH_WEBHOOK_URL: "not a url" }, /AUTH_WEBHOOK_URL must be a URL/],
    ["a webhook URL of another scheme", { AUTH_WEBHOOK_URL: "ftp://a.test/" }, /AUTH_WEBHOOK_URL must be a https: or http: URL/],
    ["a webhook URL with a password", { AUTH_WEBHOOK_URL: "https://user:hunter2@a.test/" }, /must not hold user:password/],
    ["a function name instead of an ARN", { AUTH_LAMBDA_ARN: "app-authorizer" }, /AUTH_LAMBDA_ARN must be a function ARN/],
    ["an ARN of another service", { AUTH_LAMBDA_ARN: "arn:aws:sqs:eu-west-1:123456789012:queue" }, /AUTH_LAMBDA_ARN must be a function ARN/],
    ["a cache time out of range", { AUTH_WEBHOOK_URL: "https://a.test/", AUTH_WEBHOOK_CACHE_S: "-1" }, /AUTH_WEBHOOK_CACHE_S must be a whole number from 0/],
    ["a timeout too short", { AUTH_WEBHOOK_URL: "https://a.test/", AUTH_WEBHOOK_TIMEOUT_MS: "10" }, /AUTH_WEBHOOK_TIMEOUT_MS must be a whole number from 50/],
    ["a user id key that is not a path", { AUTH_LAMBDA_ARN: ARN, AUTH_LAMBDA_USER_ID_KEY: "context..user" }, /AUTH_LAMBDA_USER_ID_KEY must be a dotted key path/],
    ["an authorizer in production without JWTs for publishers", { NODE_ENV: "production", AUTH_LAMBDA_ARN: ARN }, /production needs JWT_SECRET or JWKS_URL even with AUTH_LAMBDA_ARN/],
  ];
  for (const [what, env, message] of wrong) {
    it(`refuses ${what} with a message naming the variable`, () => {
      assert.throws(() => loadConfig(env, secret), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }

  it("never repeats a webhook URL's password in its message", () => {
    assert.throws(() => loadConfig({ AUTH_WEBHOOK_URL: "https://user:hunter2@a.test/" }, secret), (error: unknown) => error instanceof ConfigError && !error.message.includes("hunter2"));
  });
});
