import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VerifiedTokenCache } from "../../src/auth/verified-token-cache.ts";

describe("verified token cache", () => {
  it("serves a token until its exp, never before its nbf, and forgets tokens without exp", () => {
    let now = 1000;
    const cache = new VerifiedTokenCache<string>(() => now);
    cache.set("a", "alice", 1010, undefined);
    cache.set("b", "bob", 1010, 1005);
    cache.set("c", "carol", undefined, undefined);
    assert.equal(cache.get("a"), "alice");
    assert.equal(cache.get("b"), undefined, "not valid yet");
    assert.equal(cache.get("c"), undefined, "no exp: not kept");
    assert.equal(cache.get("a2"), undefined, "another text is another token");
    now = 1010;
    assert.equal(cache.get("a"), undefined, "expired");
  });
});
