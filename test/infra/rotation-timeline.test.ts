import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nextSigningKeys } from "../../infra/rotation/signing-key-list.ts";

/**
 * The HS256 rotation over time, in whole steps of time: a rotation every `interval`, tasks replaced within
 * `redeployHours` after each one (the redeploy), a backend that reads AWSCURRENT every `readEvery` (at `readPhase`)
 * and signs with its first key, tokens that live `lifetime`. Answers whether some token, while it
 * is still valid, reaches a task whose JWT_SECRET does not list its key.
 */
function someTokenUnverifiable(interval: number, lifetime: number, readEvery: number, readPhase: number, redeployHours: number): boolean {
  let counter = 0;
  const values = ["k0"];
  for (let rotation = 1; rotation <= 4; rotation++) values.push(nextSigningKeys(values.at(-1)!, () => `k${++counter}`));
  const end = 4 * interval;
  const valueAt = (hour: number) => values[Math.min(Math.floor(hour / interval), values.length - 1)]!.split(",");
  // A task started at `hour` holds the value current then; tasks are replaced redeployHours after each rotation.
  const taskValuesAt = (hour: number) => {
    const sinceRotation = hour % interval;
    const held = [valueAt(hour)];
    if (hour >= interval && sinceRotation < redeployHours) held.push(valueAt(hour - sinceRotation - 1));
    return held;
  };
  let signingKey = valueAt(0)[0]!;
  for (let hour = 0; hour < end - lifetime; hour++) {
    if ((hour - readPhase) % readEvery === 0) signingKey = valueAt(hour)[0]!;
    for (let age = 0; age < lifetime; age++) {
      if (taskValuesAt(hour + age).some((keys) => !keys.includes(signingKey))) return true;
    }
  }
  return false;
}

describe("HS256 rotation over time (README, Rotating the secrets)", () => {
  // The stack's proportions (MAX_TOKEN_LIFETIME_S is half the rotation interval) on a coarse clock.
  const interval = 48;
  const lifetime = interval / 2;

  it("a backend that reads the secret at least every interval minus MAX_TOKEN_LIFETIME_S never signs a token a task cannot verify", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: interval - lifetime }), fc.nat(), fc.integer({ min: 0, max: 4 }), (readEvery, phase, redeploy) =>
        !someTokenUnverifiable(interval, lifetime, readEvery, phase % readEvery, redeploy),
      ),
      { numRuns: 60 },
    );
  });

  it("reading it only once per rotation interval is not enough: a token signed just before a read outlives its key", () => {
    assert.equal(someTokenUnverifiable(interval, lifetime, interval, interval - 1, 1), true);
  });
});
