import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";

const devSecret = () => Buffer.alloc(32);

describe("NODE_ENV", () => {
  // A deployment that spells production another way must not get the development mode (an
  // ephemeral secret and /dev/token, which mints tokens for anyone).
  for (const spelling of ["production", "Production", "PRODUCTION", " production "]) {
    it(`${JSON.stringify(spelling)} is production: no JWT configuration refuses to start`, () => {
      assert.throws(() => loadConfig({ NODE_ENV: spelling }, devSecret), (error: unknown) => error instanceof ConfigError && /NODE_ENV=production needs JWT_SECRET/.test(error.message));
      const config = loadConfig({ NODE_ENV: spelling, JWT_SECRET: "s".repeat(40) }, devSecret);
      assert.equal(config.production, true);
      assert.equal(config.demoPage, false);
    });
  }

  for (const other of ["development", "test", ""]) {
    it(`${JSON.stringify(other)} is not production`, () => {
      assert.equal(loadConfig({ NODE_ENV: other }, devSecret).production, false);
    });
  }
});
