import assert from "node:assert/strict";
import { test } from "node:test";
import { describeSetup, startBanner } from "../../src/banner.ts";
import { loadConfig } from "../../src/config/config.ts";

const configWith = (env: Record<string, string>) => loadConfig(env, () => new Uint8Array(32));

test("the banner names what the configuration turns on, and never a Redis password", async () => {
  assert.deepEqual(describeSetup(configWith({})), { bus: "in memory (this process only)", sources: ["HTTP (POST /publish)"] });
  const config = configWith({
    REDIS_URL: "redis://gateway:s3cret-pass@10.0.0.5:6379/2",
    SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/events",
  });
  const { bus, sources } = describeSetup(config);
  assert.equal(bus, "Redis at redis://***@10.0.0.5:6379/2 (key prefix sse:)");
  assert.deepEqual(sources, ["HTTP (POST /publish)", "Redis inbox (LPUSH sse:inbox)", "SQS queue https://sqs.eu-west-1.amazonaws.com/123456789012/events"]);
  const banner = await startBanner(config, "http://127.0.0.1:8080");
  assert.ok(banner?.includes("Bus:               Redis at redis://***@10.0.0.5:6379/2"));
  assert.doesNotMatch(banner!, /s3cret/);
});

test("no banner in production", async () => {
  assert.equal(await startBanner(configWith({ NODE_ENV: "production", JWT_SECRET: "x".repeat(32) }), "http://127.0.0.1:8080"), undefined);
});

test("the development banner names the demo page only when it is served", async () => {
  const url = "http://127.0.0.1:8080";
  assert.match((await startBanner(configWith({}), url))!, /Demo page: +http:\/\/127\.0\.0\.1:8080\/\?sub=demo-user\n/);
  assert.doesNotMatch((await startBanner(configWith({ DEMO_PAGE: "off" }), url))!, /Demo page/);
});
