import assert from "node:assert/strict";
import fc from "fast-check";
import { describe, it } from "node:test";
import { matchesPattern } from "../../src/auth/topic-patterns.ts";
import { EventIdClock, comparePositions, formatEventId, parseEventId } from "../../src/events/event-id.ts";
import { ExpiryWheel } from "../../src/hub/expiry-wheel.ts";
import { Rotation } from "../../src/hub/heartbeat-rotation.ts";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";

const secret = () => new Uint8Array(32);

describe("topic patterns", () => {
  it("matches literally without a wildcard and any run with one", () => {
    assert.equal(matchesPattern("news", "news"), true);
    assert.equal(matchesPattern("news", "news2"), false);
    assert.equal(matchesPattern("*", "anything/at.all"), true);
    assert.equal(matchesPattern("orders.*", "orders.42"), true);
    assert.equal(matchesPattern("orders.*", "order.42"), false);
    assert.equal(matchesPattern("a*b*c", "a-b-c"), true);
    assert.equal(matchesPattern("a*b*c", "a-c-b"), false);
    assert.equal(matchesPattern("ab*ba", "aba"), false);
    assert.equal(matchesPattern("user:*", "user:alice"), true);
  });
});

describe("event ids", () => {
  it("round-trip and order by time then sequence", () => {
    const id = parseEventId("1700000000000-3");
    assert.deepEqual(id, { ms: 1700000000000, seq: 3 });
    assert.equal(formatEventId(id!), "1700000000000-3");
    assert.ok(comparePositions({ ms: 5, seq: 9 }, { ms: 6, seq: 0 }) < 0);
    assert.ok(comparePositions({ ms: 6, seq: 1 }, { ms: 6, seq: 0 }) > 0);
    for (const bad of ["", "12", "a-1", "1-2-3", "1-", "-1", "99999999999999999-1"]) assert.equal(parseEventId(bad), undefined, bad);
  });

  it("stay strictly increasing when the clock stands still or steps back", () => {
    const times = [100, 100, 99, 101];
    const clock = new EventIdClock(() => times.shift()!);
    const ids = [clock.next(), clock.next(), clock.next(), clock.next()].map(formatEventId);
    assert.deepEqual(ids, ["100-0", "100-1", "100-2", "101-0"]);
  });
});

describe("heartbeat rotation", () => {
  type Member = { lastWriteTick: number; rotationBucket: number; rotationIndex: number; lastByte: number };
  const op = fc.oneof(
    fc.record({ kind: fc.constant("add" as const), count: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("write" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("tick" as const) }),
  );

  it("beats each member once it has been quiet for the interval, never later and never a removed one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 600 }), (ticksPerInterval, ops) => {
        const rotation = new Rotation<Member>(ticksPerInterval);
        const members: Member[] = [];
        for (const current of ops) {
          if (current.kind === "add") {
            for (let i = 0; i < current.count; i++) {
              const member = { lastWriteTick: -1, rotationBucket: -1, rotationIndex: -1, lastByte: rotation.tick };
              rotation.add(member);
              members.push(member);
            }
          } else if (current.kind === "remove" && members.length > 0) {
            rotation.remove(members.splice(current.pick % members.length, 1)[0]!);
          } else if (current.kind === "write" && members.length > 0) {
            const member = members[current.pick % members.length]!;
            member.lastWriteTick = member.lastByte = rotation.tick;
          } else if (current.kind === "tick") {
            rotation.advance((member) => {
              assert.ok(members.includes(member), "only members still in the rotation");
              assert.ok(rotation.tick - member.lastByte >= ticksPerInterval, "a heartbeat only on a quiet member");
              member.lastWriteTick = member.lastByte = rotation.tick;
            });
            for (const member of members) assert.ok(rotation.tick - member.lastByte <= ticksPerInterval);
          }
        }
        assert.equal(rotation.size, members.length);
        assert.deepEqual(new Set(rotation.all()), new Set(members));
      }),
      { numRuns: 300 },
    );
  });
});

describe("expiry wheel", () => {
  it("hands out members when their second has passed, and never removed ones", () => {
    const wheel = new ExpiryWheel<string>(1000);
    wheel.add("a", 1001.5);
    wheel.add("b", 1003);
    wheel.add("c", 900);
    wheel.add("gone", 1002);
    wheel.remove("gone");
    assert.deepEqual(wheel.takeDue(1001).sort(), ["c"]);
    assert.deepEqual(wheel.takeDue(1002), ["a"]);
    assert.deepEqual(wheel.takeDue(1010), ["b"]);
  });
});

describe("configuration", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({}, secret);
    assert.equal(config.port, 8080);
    assert.equal(config.heartbeatIntervalMs, 15000);
    assert.equal(config.jwt.kind, "ephemeral");
  });

  const wrong: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: "eighty" }, /PORT must be a whole number/],
    [{ PORT: "70000" }, /PORT must be a whole number from 0 to 65535/],
    [{ HEARTBEAT_INTERVAL_MS: "10" }, /HEARTBEAT_INTERVAL_MS/],
    [{ LOG_LEVEL: "loud" }, /LOG_LEVEL must be one of/],
    [{ JWT_SECRET: "short" }, /JWT_SECRET must be at least 32 bytes/],
    [{ JWKS_URL: "https://id.example/jwks.json" }, /JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE/],
    [{ JWKS_URL: "not a url", JWT_ISSUER: "i", JWT_AUDIENCE: "a" }, /JWKS_URL must be a URL/],
    [{ NODE_ENV: "production" }, /NODE_ENV=production needs JWT_SECRET or JWKS_URL/],
    [{ CORS_ORIGINS: "https://ok.example,*" }, /CORS_ORIGINS must list origins/],
    [{ TLS_CERT: "/nonexistent.pem" }, /TLS_CERT and TLS_KEY go together/],
    [{ TLS_CERT: "/nonexistent.pem", TLS_KEY: "/nonexistent.key" }, /TLS_CERT must be the path of a readable PEM file/],
  ];
  for (const [env, message] of wrong) {
    it(`refuses ${JSON.stringify(env)} naming the variable`, () => {
      assert.throws(() => loadConfig(env, secret), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }
});

describe("stream opens per user and minute", () => {
  it("refuses past the limit until the minute turns, per user", async () => {
    const { OpenRate } = await import("../../src/hub/open-rate.ts");
    let now = 1_000_000;
    const rate = new OpenRate(2, () => now);
    assert.equal(rate.take("a"), 0);
    assert.equal(rate.take("a"), 0);
    assert.equal(rate.take("b"), 0, "another user has a count of its own");
    now += 15_000;
    assert.equal(rate.take("a"), 45, "seconds until the window ends");
    now += 45_000;
    assert.equal(rate.take("a"), 0, "a new minute");
  });
});
