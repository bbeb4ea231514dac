import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";

const SECRET = "s".repeat(40);
const devSecret = () => Buffer.alloc(32);

/** Settings of a feature that is off: a wrong value is still a configuration error, not silently ignored until the feature is turned on. */
const WRONG_VALUES_OF_FEATURES_THAT_ARE_OFF: Record<string, string[]> = {
  AUTH_WEBHOOK_CACHE_S: ["-1", "abc", "86401"],
  AUTH_WEBHOOK_TIMEOUT_MS: ["10", "2s"],
  AUTH_LAMBDA_ENDPOINT: ["not a url", "ftp://x"],
  AUTH_LAMBDA_USER_ID_KEY: [".."],
  AUTH_LAMBDA_TOPICS_KEY: ["a..b"],
  SQS_ENDPOINT: ["nope"],
  SQS_POLLERS: ["0", "11", "two"],
  SQS_VISIBILITY_TIMEOUT_SECONDS: ["1", "-5"],
  SQS_USER_ID_PATHS: ["detail.userId"],
  SQS_TOPIC_PATHS: ["$..x["],
  REDIS_COMMAND_TIMEOUT_MS: ["0", "1e3"],
  TARGET_HEALTH_POLL_MS: ["5", "abc"],
  REDIS_KEY_PREFIX: ["a b"],
  DEREGISTRATION_DELAY_MS: ["-1", "30s"],
};

describe("a wrong value of a feature that is off", () => {
  for (const [name, values] of Object.entries(WRONG_VALUES_OF_FEATURES_THAT_ARE_OFF)) {
    for (const value of values) {
      it(`${name}=${JSON.stringify(value)} stops the start, naming ${name}`, () => {
        assert.throws(
          () => loadConfig({ JWT_SECRET: SECRET, [name]: value }, devSecret),
          (error: unknown) => error instanceof ConfigError && error.message.includes(name),
        );
      });
    }
  }

  it("the defaults of those features still load with the features off", () => {
    const config = loadConfig({ JWT_SECRET: SECRET }, devSecret);
    assert.equal(config.authorizer, undefined);
    assert.equal(config.sqs, undefined);
    assert.equal(config.redis, undefined);
    assert.equal(config.targetHealth, undefined);
  });
});
