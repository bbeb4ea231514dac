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

describe("HS256 verification with node:crypto", () => {
  it("gives jose's verdict on every token: the same claims, or the same refusal", async (t) => {
    t.mock.timers.enable({ apis: ["Date"], now: NOW_MS });
    await fc.assert(fc.asyncProperty(tokenArbitrary, optionsArbitrary, async (token, options) => {
      const ours = await verdict(() => new Hs256Verifier(SECRETS, options).verify(token));
      assert.deepEqual(ours, await verdict(() => reference(token, options)), token);
    }), { numRuns: 3000 });
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
