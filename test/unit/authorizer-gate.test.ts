import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { AuthError } from "../../src/auth/auth-error.ts";
import {
  AuthorizerFailure,
  type Authorizer,
  type AuthorizerDecision,
  type AuthorizerObserver,
  type AuthorizerRequest,
} from "../../src/auth/authorizers/authorizer.ts";
import { AuthorizerGate, credentialKey } from "../../src/auth/authorizers/authorizer-gate.ts";
import { DecisionCache } from "../../src/auth/authorizers/decision-cache.ts";
import { grantDecision } from "../../src/auth/authorizers/grant.ts";
import { iamMatches, lambdaDecision } from "../../src/auth/authorizers/lambda-answer.ts";

const quiet = { warn() {}, error() {} };

function countingObserver() {
  const counts = { calls: 0, stored: 0, inFlight: 0, failures: [] as string[] };
  const observer: AuthorizerObserver = {
    called: () => void counts.calls++,
    cacheHit: (_kind, source) => void (source === "stored" ? counts.stored++ : counts.inFlight++),
    failed: (_kind, reason) => void counts.failures.push(reason),
  };
  return { counts, observer };
}

/** An authorizer whose decision is a pure function of the request, answering after a chosen delay. */
function fakeAuthorizer(decide: (request: AuthorizerRequest) => AuthorizerDecision | Error, delayMs: (request: AuthorizerRequest) => number = () => 1): Authorizer & { calls: number } {
  return {
    kind: "webhook",
    calls: 0,
    async decide(request, signal) {
      this.calls++;
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, delayMs(request));
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      });
      const decision = decide(request);
      if (decision instanceof Error) throw decision;
      return decision;
    },
    close() {},
  };
}

const request = (cookie: string, extra: Partial<AuthorizerRequest> = {}): AuthorizerRequest => ({
  headers: { cookie },
  query: {},
  topics: [],
  sourceIp: "127.0.0.1",
  ...extra,
});

const allow = (userId: string, expiresAt?: number): AuthorizerDecision => ({ allowed: true, principal: { userId, topicPatterns: [], expiresAt } });

describe("decision cache", () => {
  it("shares one load among concurrent gets of a key, and shares its failure too without storing it", async () => {
    const cache = new DecisionCache<string>(10);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return "v";
    };
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.get("k", load, () => 1000)));
    assert.equal(loads, 1);
    assert.equal(results.filter((result) => result.source === "loaded").length, 1);
    assert.equal(results.filter((result) => result.source === "in_flight").length, 99);
    assert.equal((await cache.get("k", load, () => 1000)).source, "stored");

    const failing = async () => {
      loads++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error("down");
    };
    const failed = await Promise.allSettled(Array.from({ length: 10 }, () => cache.get("f", failing, () => 1000)));
    assert.ok(failed.every((result) => result.status === "rejected"));
    assert.equal(loads, 2, "one failing load for ten waiters");
    assert.equal((await cache.get("f", load, () => 1000)).source, "loaded", "a failure is not remembered");
  });

  it("keeps an entry for its ttl only, and none with ttl 0", async () => {
    let now = 0;
    const cache = new DecisionCache<string>(10, () => now);
    const load = async () => "v";
    await cache.get("k", load, () => 100);
    now = 99;
    assert.equal((await cache.get("k", load, () => 100)).source, "stored");
    now = 100;
    assert.equal((await cache.get("k", load, () => 0)).source, "loaded");
    assert.equal((await cache.get("k", load, () => 0)).source, "loaded", "ttl 0 keeps nothing");
  });

  it("never holds more entries than its bound, whatever the keys", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 200 }), async (bound, keys) => {
        const cache = new DecisionCache<string>(bound);
        for (const key of keys) {
          await cache.get(key, async () => key, () => 60_000);
          assert.ok(cache.size <= bound);
        }
      }),
    );
  });

  it("never holds more weight than its bound, and keeps the last value it could store", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 50 }), fc.array(fc.string({ maxLength: 30 }), { maxLength: 200 }), async (max, values) => {
        const cache = new DecisionCache<string>(1000, Date.now, { weigh: (value) => value.length, max });
        for (const [n, value] of values.entries()) {
          const key = String(n);
          await cache.get(key, async () => value, () => 60_000);
          assert.ok(cache.weight <= max, `${cache.weight} > ${max}`);
          const { value: again, source } = await cache.get(key, async () => "reloaded", () => 0);
          if (value.length <= max) assert.deepEqual([again, source], [value, "stored"]);
        }
      }),
    );
  });
});

describe("credential key", () => {
  const requestArb = fc.record({
    headers: fc.record({ cookie: fc.string(), authorization: fc.string(), origin: fc.string() }, { requiredKeys: [] }),
    query: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 4 }),
    topics: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    sourceIp: fc.constantFrom("10.0.0.1", "10.0.0.2"),
  });

  it("is the same for the same credentials in any parameter order, and never holds them", () => {
    fc.assert(
      fc.property(requestArb, (sent) => {
        const reversed = { ...sent, query: Object.fromEntries(Object.entries(sent.query).reverse()) };
        assert.equal(credentialKey(sent), credentialKey(reversed));
        assert.match(credentialKey(sent), /^[\w-]{43}$/, "a digest");
      }),
    );
  });

  it("differs whenever anything the decision depends on differs", () => {
    fc.assert(
      fc.property(requestArb, requestArb, fc.record({ headers: fc.boolean(), query: fc.boolean(), topics: fc.boolean(), sourceIp: fc.boolean() }), (a, other, keep) => {
        // b takes some fields from a, so that near-misses (one field apart) are tried often.
        const b = { headers: keep.headers ? a.headers : other.headers, query: keep.query ? a.query : other.query, topics: keep.topics ? a.topics : other.topics, sourceIp: keep.sourceIp ? a.sourceIp : other.sourceIp };
        const same = JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
        assert.equal(credentialKey(a) === credentialKey(b), same);
      }),
    );
  });
});

function canonical(request: AuthorizerRequest) {
  const query = Object.keys(request.query).sort().map((name) => [name, request.query[name]]);
  return [request.headers.cookie, request.headers.authorization, request.headers.origin, query, request.topics, request.sourceIp];
}

describe("authorizer gate", () => {
  it("gives every request its own decision, however many run at once and in whatever order they finish", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ session: fc.integer({ min: 0, max: 6 }), topic: fc.constantFrom("a", "b"), delay: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 40 }),
        async (opens) => {
          const decideFor = (sent: AuthorizerRequest) => {
            const session = Number(/s(\d)/.exec(sent.headers.cookie!)![1]);
            if (session === 0) return { allowed: false as const, status: 401 as const, message: "no" };
            return allow(`user-${session}-${sent.topics[0]}`);
          };
          const authorizer = fakeAuthorizer(decideFor, (sent) => Number(sent.query.delay));
          const gate = new AuthorizerGate(authorizer, { cacheSeconds: 60, timeoutMs: 1000, observer: countingObserver().observer, log: quiet });
          const sent = opens.map((open) => request(`s${open.session}`, { topics: [open.topic], query: { delay: String(open.delay) } }));
          const results = await Promise.allSettled(sent.map((one) => gate.authorize(one)));
          results.forEach((result, i) => {
            const expected = decideFor(sent[i]!);
            if (expected.allowed) assert.deepEqual(result, { status: "fulfilled", value: expected.principal });
            else assert.ok(result.status === "rejected" && result.reason instanceof AuthError && result.reason.code === "authorizer_denied");
          });
          assert.equal(authorizer.calls, new Set(sent.map(credentialKey)).size, "one call per distinct credential");
        },
      ),
      { numRuns: 50 },
    );
  });

  it("reuses a grant until AUTH_WEBHOOK_CACHE_S or the grant's expiresAt, whichever comes first", async () => {
    let now = 1_000_000;
    const authorizer = fakeAuthorizer(() => allow("alice", 1_000_000 / 1000 + 10), () => 0);
    const gate = new AuthorizerGate(authorizer, { cacheSeconds: 60, timeoutMs: 1000, observer: countingObserver().observer, log: quiet, nowMs: () => now });
    await gate.authorize(request("s1"));
    now += 9_999;
    await gate.authorize(request("s1"));
    assert.equal(authorizer.calls, 1);
    now += 1;
    await gate.authorize(request("s1"));
    assert.equal(authorizer.calls, 2, "asked again once the grant expired, well before 60 s");
  });

  it("turns a hanging authorizer into a timeout failure, and counts it", async () => {
    const { counts, observer } = countingObserver();
    const authorizer = fakeAuthorizer(() => allow("x"), () => 10_000);
    const gate = new AuthorizerGate(authorizer, { cacheSeconds: 60, timeoutMs: 50, observer, log: quiet });
    await assert.rejects(gate.authorize(request("s1")), (error) => error instanceof AuthorizerFailure && error.reason === "timeout" && error.status === 503);
    assert.deepEqual(counts.failures, ["timeout"]);
  });

  it("keeps calls in flight under its bound: past it, distinct credentials fail at once as overloaded", async () => {
    const { counts, observer } = countingObserver();
    const authorizer = fakeAuthorizer((sent) => allow(sent.headers.cookie!), () => 20);
    const gate = new AuthorizerGate(authorizer, { cacheSeconds: 60, timeoutMs: 1000, observer, log: quiet, maxConcurrentCalls: 8 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => gate.authorize(request(`s${i}`))));
    assert.equal(authorizer.calls, 8);
    assert.equal(results.filter((result) => result.status === "fulfilled").length, 8);
    assert.equal(counts.failures.filter((reason) => reason === "overloaded").length, 12);
    assert.ok(results.every((result) => result.status === "fulfilled" || (result.reason instanceof AuthorizerFailure && result.reason.status === 503)));
    assert.deepEqual(await gate.authorize(request("s19")), { userId: "s19", topicPatterns: [], expiresAt: undefined }, "the slots are free again afterwards");
  });

  it("turns a thrown error into an unreachable failure without its text reaching the client", async () => {
    const authorizer = fakeAuthorizer(() => new Error("ECONNREFUSED secret-in-url"), () => 0);
    const gate = new AuthorizerGate(authorizer, { cacheSeconds: 60, timeoutMs: 1000, observer: countingObserver().observer, log: quiet });
    await assert.rejects(gate.authorize(request("s1")), (error) => error instanceof AuthorizerFailure && error.reason === "unreachable" && !error.message.includes("secret"));
  });
});

describe("grant answers", () => {
  it("either grants, refuses or fails as invalid_answer: never anything else, whatever the answer", () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), (userId, topics, expiresAt) => {
        try {
          const decision = grantDecision({ userId, topics, expiresAt }, { userId: "sub", topics: "topics", expiresAt: "expiresAt" }, 1_800_000_000);
          if (decision.allowed) {
            assert.equal(typeof decision.principal.userId, "string");
            assert.ok(decision.principal.topicPatterns.every((topic) => typeof topic === "string"));
          }
        } catch (error) {
          assert.ok(error instanceof AuthorizerFailure && error.reason === "invalid_answer", String(error));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("Lambda authorizer answers", () => {
  const methodArn = "arn:aws:execute-api:eu-west-1:123456789012:sse-gateway/$default/GET/events";
  const keys = { userId: "principalId", topics: "context.topics" };
  const statement = fc.record({
    Effect: fc.oneof(fc.constantFrom("Allow", "Deny"), fc.anything()),
    Action: fc.oneof(fc.constantFrom("execute-api:Invoke", "execute-api:*", "*", "s3:GetObject"), fc.array(fc.constantFrom("execute-api:Invoke", "sqs:*")), fc.anything()),
    Resource: fc.oneof(fc.constantFrom(methodArn, "*", "arn:aws:execute-api:*:*:sse-gateway/*", "arn:aws:execute-api:eu-west-1:123456789012:other/*"), fc.anything()),
  }, { requiredKeys: [] });
  const answer = fc.oneof(
    fc.anything(),
    fc.record({ principalId: fc.oneof(fc.string(), fc.anything()), policyDocument: fc.record({ Statement: fc.oneof(fc.array(statement), statement) }), context: fc.dictionary(fc.string(), fc.anything()) }, { requiredKeys: [] }),
    fc.record({ isAuthorized: fc.boolean(), context: fc.record({ topics: fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  );

  it("maps the configured keys, both topic spellings and context.expiresAt into the principal", () => {
    const allowAll = { Statement: [{ Effect: "Allow", Action: "execute-api:Invoke", Resource: methodArn }] };
    const policyAnswer = { principalId: "alice", policyDocument: allowAll, context: { topics: " news , orders.* ", expiresAt: "1800000600" } };
    assert.deepEqual(lambdaDecision(policyAnswer, methodArn, keys, 1_800_000_000), {
      allowed: true,
      principal: { userId: "alice", topicPatterns: ["news", "orders.*"], expiresAt: 1_800_000_600 },
    });
    const simpleAnswer = { isAuthorized: true, context: { user: { id: 42 }, allowed: '["a.*"]', expiresAt: 1_800_000_060 } };
    assert.deepEqual(lambdaDecision(simpleAnswer, methodArn, { userId: "context.user.id", topics: "context.allowed" }, 1_800_000_000), {
      allowed: true,
      principal: { userId: "42", topicPatterns: ["a.*"], expiresAt: 1_800_000_060 },
    });
    assert.equal(lambdaDecision({ ...policyAnswer, context: { expiresAt: 1_799_999_999 } }, methodArn, keys, 1_800_000_000).allowed, false, "an expired grant is a refusal");
  });

  it("either grants, refuses or fails as invalid_answer, whatever the function returns", () => {
    fc.assert(
      fc.property(answer, (returned) => {
        try {
          const decision = lambdaDecision(returned, methodArn, keys, 1_800_000_000);
          if (decision.allowed) assert.ok(typeof decision.principal.userId === "string" && Array.isArray(decision.principal.topicPatterns));
          else assert.ok(decision.status === 401 || decision.status === 403);
        } catch (error) {
          assert.ok(error instanceof AuthorizerFailure && error.reason === "invalid_answer", String(error));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("reads a policy whose wildcards would make a regular expression backtrack for ever, without stalling", async () => {
    // In a worker, so that a stalled match fails this test instead of freezing the test run.
    const resource = `${"?*".repeat(40)}Q`;
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      import(workerData.module).then(({ lambdaDecision }) => {
        const answer = { principalId: "u", policyDocument: { Statement: [{ Effect: "Allow", Action: "execute-api:Invoke", Resource: workerData.resource }] } };
        parentPort.postMessage(lambdaDecision(answer, workerData.methodArn, workerData.keys, 1800000000).allowed);
      });`;
    const module = new URL("../../src/auth/authorizers/lambda-answer.ts", import.meta.url).href;
    const worker = new Worker(code, { eval: true, workerData: { module, resource, methodArn, keys } });
    try {
      const allowed = await Promise.race([
        new Promise((resolve, reject) => worker.once("message", resolve).once("error", reject)),
        new Promise((_, reject) => setTimeout(() => reject(new Error("the policy match did not end within 5 s")), 5000).unref()),
      ]);
      assert.equal(allowed, false, "the methodArn has no Q: the Allow does not apply");
    } finally {
      await worker.terminate();
    }
  });

  it("matches IAM wildcards as a regular expression of them would, on any pattern and value", () => {
    const text = (chars: string[]) => fc.array(fc.constantFrom(...chars), { maxLength: 12 }).map((list) => list.join(""));
    fc.assert(
      fc.property(text(["a", "A", "b", "/", "*", "?", "."]), text(["a", "A", "b", "/", "."]), fc.boolean(), (pattern, value, ignoreCase) => {
        const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
        assert.equal(iamMatches(pattern, value, ignoreCase), new RegExp(`^${source}$`, ignoreCase ? "is" : "s").test(value));
      }),
      { numRuns: 2000 },
    );
  });

  it("never grants when a statement denies invoking this method, whatever else the policy says", () => {
    fc.assert(
      fc.property(fc.array(statement), fc.integer({ min: 0, max: 10 }), (others, at) => {
        const statements = [...others];
        statements.splice(Math.min(at, statements.length), 0, { Effect: "Deny", Action: "execute-api:Invoke", Resource: methodArn });
        try {
          const decision = lambdaDecision({ principalId: "u", policyDocument: { Statement: statements } }, methodArn, keys, 1_800_000_000);
          assert.equal(decision.allowed, false);
        } catch (error) {
          assert.ok(error instanceof AuthorizerFailure, String(error));
        }
      }),
    );
  });
});
