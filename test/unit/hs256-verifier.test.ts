import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { errors, jwtVerify, type JWTVerifyOptions } from "jose";
import { Hs256Verifier, type ClaimOptions } from "../../src/auth/hs256-verifier.ts";

const SECRETS = ["k".repeat(32), "second-secret-of-the-rotation-list"].map((text) => new TextEncoder().encode(text));
const OUTSIDER = new TextEncoder().encode("o".repeat(40));
/** Both verifiers read the clock: it stands still during the comparison, so a second cannot pass between them. */
const NOW_MS = Date.now();
const now = () => Math.floor(NOW_MS / 1000);

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const hmac = (key: Uint8Array, input: string) => createHmac("sha256", key).update(input).digest("base64url");

/** jose's jwtVerify over a rotation list, as the verifier ran before: a mismatch moves on, any other verdict is final. */
async function reference(token: string, options: JWTVerifyOptions): Promise<unknown> {
  let mismatch: unknown;
  for (const secret of SECRETS) {
    try {
      return (await jwtVerify(token, secret, { algorithms: ["HS256"], ...options })).payload;
    } catch (error) {
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
      mismatch = error;
    }
  }
  throw mismatch;
}

/**
 * A verdict both verifiers can be compared on: the claims, or the jose error code (and the claim
 * it names). jose calls a payload that is not base64url JWS-invalid when it reads it for the
 * signature and JWT-invalid when it reads it for the claims: both are "malformed" to the gateway.
 */
async function verdict(run: () => unknown): Promise<unknown> {
  try {
    return { claims: await run() };
  } catch (error) {
    if (!(error instanceof errors.JOSEError)) return { thrown: String(error) };
    const code = error.code === "ERR_JWT_INVALID" || error.code === "ERR_JWS_INVALID" ? "malformed" : error.code;
    return error instanceof errors.JWTClaimValidationFailed ? { code, claim: error.claim, reason: error.reason } : { code };
  }
}

const time = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -7200, max: 7200 }).map((offset) => now() + offset) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 1).map((offset) => now() + offset) },
  { weight: 1, arbitrary: fc.constantFrom("soon", null, true, Number.MAX_SAFE_INTEGER, 1.5) },
);
const claimArbitrary = fc.record({
  sub: fc.oneof(fc.constantFrom("alice", "", "\u{1F600}"), fc.string()),
  exp: time, nbf: time, iat: time,
  iss: fc.constantFrom("https://issuer.example", "https://issuer.example", "https://other.example", 7),
  aud: fc.oneof(fc.constantFrom("gateway", "gateway", "other"), fc.array(fc.constantFrom("gateway", "other", 3), { maxLength: 3 })),
  topics: fc.array(fc.string(), { maxLength: 3 }),
}, { requiredKeys: [] });
const headerArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ alg: "HS256", typ: "JWT" }) },
  { weight: 2, arbitrary: fc.record({
    alg: fc.constantFrom("HS256", "HS256", "HS256", "HS384", "none", "RS256", "", 256),
    typ: fc.constantFrom("JWT", "at+jwt"),
    kid: fc.string(),
  }, { requiredKeys: ["alg"] }) },
  { weight: 1, arbitrary: fc.record({
    alg: fc.constantFrom("HS256", "none"),
    crit: fc.constantFrom(["b64"], ["b64"], ["exp"], [], "b64", [""], ["b64", "b64"]),
    b64: fc.constantFrom(true, true, false, "true"),
  }, { requiredKeys: ["alg"] }) },
);
/** Encodings a decoder may read differently: padding, white space, a byte order mark, other UTF-8. */
const oddEncoding = (json: string) => fc.constantFrom(
  `${b64(json)}=`, `${b64(json)}==`, ` ${b64(json)}`, `${b64(json).slice(0, 4)}\t${b64(json).slice(4)}`,
  b64(`\uFEFF${json}`), b64(json.replace("}", ',"x":"\u00e9\u{1F600}"}')), Buffer.from(json).toString("base64"),
);
const segment = (value: fc.Arbitrary<unknown>) => fc.oneof(
  { weight: 16, arbitrary: value.map((object) => b64(JSON.stringify(object))) },
  { weight: 2, arbitrary: value.chain((object) => oddEncoding(JSON.stringify(object))) },
  { weight: 1, arbitrary: fc.constantFrom("", "!!", "e30", b64("[]"), b64("null"), b64("{"), "\u00e9", b64("\u00ff\u00fe")) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

/** Tokens signed with a listed key, with another key, or not at all, then perhaps damaged. */
const tokenArbitrary = fc.tuple(segment(headerArbitrary), segment(claimArbitrary), fc.constantFrom(0, 1, 0, 1, "outsider", "garbage"), fc.option(fc.tuple(fc.nat(), fc.string({ maxLength: 2 })), { freq: 4 }))
  .map(([header, payload, signer, damage]) => {
    const input = `${header}.${payload}`;
    const signature = signer === "garbage" ? "not-a-signature!" : hmac(typeof signer === "number" ? SECRETS[signer]! : OUTSIDER, input);
    const token = `${input}.${signature}`;
    if (!damage) return token;
    const [at, text] = damage;
    const position = at % (token.length + 1);
    return token.slice(0, position) + text + token.slice(position + 1);
  });

const optionsArbitrary: fc.Arbitrary<ClaimOptions> = fc.constantFrom({}, { issuer: "https://issuer.example", audience: "gateway" });

/**
 * Header and claim texts written member by member, so that they can hold what JSON.stringify
 * never writes: a repeated name (the last one counts), `__proto__`, `crit` names in any order
 * with `b64` present or not, numbers such as 1e999, -0 and fractions next to now.
 */
const member = (name: string, value: fc.Arbitrary<string>) => value.map((text) => `${JSON.stringify(name)}:${text}`);
const json = (value: unknown) => JSON.stringify(value);
/** The first member (alg, exp) is there more often than not, the others perhaps; in any order. */
const rawObject = ([first, ...others]: fc.Arbitrary<string>[]) => fc.tuple(fc.option(first!, { freq: 12 }), ...others.map((other) => fc.option(other, { freq: 2 })))
  .chain((parts) => { const present = parts.filter((part) => part !== null); return fc.tuple(fc.shuffledSubarray(present, { minLength: present.length }), fc.constantFrom("", "", " ", "\n", "\uFEFF")); })
  .map(([parts, space]) => `${space}{${parts.join(",")}}`);
const algMember = member("alg", fc.constantFrom(json("HS256"), json("HS256"), json("HS256"), json("hs256"), json("none"), json("HS256 "), "null"));
const typMember = member("typ", fc.constantFrom(json("JWT"), "7"));
const rawHeader = fc.oneof(
  { weight: 2, arbitrary: rawObject([algMember, typMember]) },
  { weight: 1, arbitrary: rawObject([
    algMember, typMember,
    member("alg", fc.constantFrom(json("HS256"), json("RS256"))),
    member("crit", fc.oneof(fc.array(fc.constantFrom("b64", "b64", "exp", "__proto__", "toString", ""), { minLength: 1, maxLength: 3 }).map(json), fc.constantFrom('"b64"', "null", "[]", "[1]"))),
    member("b64", fc.constantFrom("true", "false", '"true"', "null", "0")),
    member("__proto__", fc.constantFrom('{"b64":false}', '{"alg":"HS256"}', "null")),
  ]) },
);
const nearNow = fc.constantFrom(-1, -0.5, 0, 0.5, 1, 60).map((offset) => String(now() + offset));
const rawClaims = rawObject([
  member("sub", fc.constantFrom(json("alice"), "null", json("\u{1F600}"))),
  member("exp", fc.oneof(nearNow, fc.constantFrom("1e999", "-1e999", "-0", "9007199254740993", json(String(now() + 60)), "[1]"))),
  member("exp", nearNow),
  member("nbf", fc.oneof(nearNow, fc.constantFrom("-0", "1e999", json("0")))),
  member("iat", fc.oneof(nearNow, fc.constantFrom("false", "{}"))),
  member("iss", fc.constantFrom(json("https://issuer.example"), json(["https://issuer.example"]), json("https://issuer.example/"), "null")),
  member("aud", fc.constantFrom(json("gateway"), json(["gateway"]), json([1, null, "gateway"]), json([["gateway"]]), json([]), json("Gateway"))),
  member("__proto__", fc.constantFrom('{"iss":"https://issuer.example","aud":"gateway"}', "{}")),
]);
/** A segment's encoding, perhaps changed in a way decoders differ on: trailing bits, padding, space, length. */
const encodedRaw = (text: fc.Arbitrary<string>) => fc.tuple(text, fc.constantFrom(...Array<string>(12).fill("none"), "bits", "pad", "space", "extra", "drop", "std"))
  .map(([raw, change]) => {
    const plain = b64(raw);
    if (change === "bits") return plain.slice(0, -1) + String.fromCharCode(plain.charCodeAt(plain.length - 1) ^ 1);
    if (change === "pad") return `${plain}${"=".repeat((4 - (plain.length % 4)) % 4)}`;
    if (change === "space") return `${plain.slice(0, 2)} ${plain.slice(2)}`;
    if (change === "extra") return `${plain}A`;
    if (change === "drop") return plain.slice(0, -1);
    return change === "std" ? Buffer.from(raw).toString("base64") : plain;
  });
const rawTokenArbitrary = fc.tuple(encodedRaw(rawHeader), encodedRaw(rawClaims), fc.constantFrom(0, 1, "outsider"), fc.constantFrom(...Array<string>(9).fill(""), ".", "=", "A"))
  .map(([header, payload, signer, tail]) => {
    const input = `${header}.${payload}`;
    return `${input}.${hmac(typeof signer === "number" ? SECRETS[signer]! : OUTSIDER, input)}${tail}`;
  });

describe("HS256 verification with node:crypto", () => {
  it("gives jose's verdict on every token: the same claims, or the same refusal", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW_MS });
    await fc.assert(fc.asyncProperty(tokenArbitrary, optionsArbitrary, async (token, options) => {
      const ours = await verdict(() => new Hs256Verifier(SECRETS, options).verify(token));
      assert.deepEqual(ours, await verdict(() => reference(token, options)), token);
    }), { numRuns: 3000 });
  });

  it("gives jose's verdict on hand-written headers and claims, through one verifier whose remembered headers churn", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW_MS });
    const options = { issuer: "https://issuer.example", audience: "gateway" };
    // One verifier for the whole run: a header that passed once must not change a later verdict.
    const shared = [new Hs256Verifier(SECRETS, {}), new Hs256Verifier(SECRETS, options)] as const;
    await fc.assert(fc.asyncProperty(rawTokenArbitrary, fc.boolean(), async (token, strict) => {
      const ours = await verdict(() => shared[strict ? 1 : 0].verify(token));
      assert.deepEqual(ours, await verdict(() => reference(token, strict ? options : {})), token);
    }), { numRuns: 3000 });
  });

  it("names the first of crit's names jose stops at: b64 named but absent before an unknown name", async () => {
    const header = b64(JSON.stringify({ alg: "HS256", crit: ["b64", "exp"] }));
    const input = `${header}.${b64(JSON.stringify({ sub: "alice" }))}`;
    const token = `${input}.${hmac(SECRETS[0]!, input)}`;
    assert.deepEqual(await verdict(() => new Hs256Verifier(SECRETS, {}).verify(token)), await verdict(() => reference(token, {})));
    assert.throws(() => new Hs256Verifier(SECRETS, {}).verify(token), errors.JWSInvalid);
  });

  it("accepts a well-formed token signed with any listed secret, and one key's refusal of a claim is final", async () => {
    const verifier = new Hs256Verifier(SECRETS, { issuer: "https://issuer.example", audience: "gateway" });
    const signed = (claims: object, key: Uint8Array) => {
      const input = `${b64(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64(JSON.stringify(claims))}`;
      return `${input}.${hmac(key, input)}`;
    };
    const good = { sub: "alice", iss: "https://issuer.example", aud: "gateway", exp: now() + 60 };
    for (const key of SECRETS) assert.equal(verifier.verify(signed(good, key)).sub, "alice");
    assert.throws(() => verifier.verify(signed(good, OUTSIDER)), errors.JWSSignatureVerificationFailed);
    assert.throws(() => verifier.verify(signed({ ...good, exp: now() - 1 }, SECRETS[1]!)), errors.JWTExpired);
    assert.throws(() => verifier.verify(signed({ ...good, aud: "other" }, SECRETS[1]!)), errors.JWTClaimValidationFailed);
  });
});
