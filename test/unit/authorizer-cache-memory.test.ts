import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Authorizer, AuthorizerDecision } from "../../src/auth/authorizers/authorizer.ts";
import { AuthorizerGate } from "../../src/auth/authorizers/authorizer-gate.ts";
import { collectGarbage } from "../support/process-resources.ts";

/**
 * The decision cache holds at most 10,000 decisions; each can carry 100 patterns of 256
 * characters. Many users granted long topic lists must not make that bound a quarter of a
 * gigabyte: what the cache keeps is bounded in characters too.
 */

const SESSIONS = 4000;
const BATCH = 200;

/** Grants each session 100 patterns of 256 characters, made afresh (as parsed from each answer). */
function generousAuthorizer(): Authorizer {
  return {
    kind: "webhook",
    async decide(request): Promise<AuthorizerDecision> {
      const session = request.headers.cookie!;
      const topicPatterns = Array.from({ length: 100 }, (_, n) => `${session}.${n}.`.padEnd(255, "x") + "*");
      return { allowed: true, principal: { userId: session, topicPatterns, expiresAt: undefined } };
    },
    close() {},
  };
}

describe("authorizer decision cache memory", () => {
  it(`stays bounded when ${SESSIONS} sessions are each granted 100 long patterns`, async () => {
    const observer = { called() {}, cacheHit() {}, failed() {} };
    const gate = new AuthorizerGate(generousAuthorizer(), { cacheSeconds: 3600, timeoutMs: 1000, observer, log: { warn() {}, error() {} } });
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    await authorizeSessions(gate);
    collectGarbage();
    const grownMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    console.log(`heap grown by ${grownMb.toFixed(1)} MB for ${SESSIONS} cached grants of 25 KB each`);
    assert.ok(grownMb < 40, `${grownMb.toFixed(1)} MB held by the cache`);
    const again = await gate.authorize({ headers: { cookie: `session-${SESSIONS - 1}` }, query: {}, topics: [], sourceIp: "127.0.0.1" });
    assert.equal(again.userId, `session-${SESSIONS - 1}`);
    gate.close();
  });

  it(`keeps no answer past its call, with nothing cached and a long timeout`, async () => {
    const observer = { called() {}, cacheHit() {}, failed() {} };
    const gate = new AuthorizerGate(generousAuthorizer(), { cacheSeconds: 0, timeoutMs: 60_000, observer, log: { warn() {}, error() {} } });
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    await authorizeSessions(gate);
    collectGarbage();
    const grownMb = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
    console.log(`heap grown by ${grownMb.toFixed(1)} MB after ${SESSIONS} uncached grants of 25 KB each`);
    assert.ok(grownMb < 40, `${grownMb.toFixed(1)} MB held after the calls`);
    gate.close();
  });
});

async function authorizeSessions(gate: AuthorizerGate): Promise<void> {
  for (let from = 0; from < SESSIONS; from += BATCH) {
    const opens = Array.from({ length: BATCH }, (_, n) => ({ headers: { cookie: `session-${from + n}` }, query: {}, topics: [], sourceIp: "127.0.0.1" }));
    await Promise.all(opens.map((open) => gate.authorize(open)));
  }
}
