import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { KEY_SET_ALGORITHMS } from "../../src/auth/remote-key-set.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startKeyServer, type KeyServer } from "../support/key-server.ts";
import { GATEWAY_AUDIENCE, HUB_AUDIENCE, IDP, idpKeys, octSecret, PUBLISHER_KEY, servedKeys, SUBSCRIBER_KEY } from "../support/mercure-idp.ts";
import { compactJws, type Signature } from "../support/signing-keys.ts";
import { connectSse } from "../support/sse-client.ts";

/**
 * Generated Mercure tokens, well-formed and not: every header field an attacker controls (`alg`,
 * `kid`, `typ`), the signing key (the right one, another role's, a public key's bytes as an HMAC
 * secret, the set's own symmetric key, a key outside the set, none), the claims and the token's
 * shape. Each is sent as a publisher or a subscriber to two hubs, and the answer must be exactly
 * what the rules in the README say: 200 when the token is good for that role on that hub, else
 * 401 invalid_token; never anything else (no 500, no 503 while the key set answers).
 */

const HUB = "/.well-known/mercure";
const RUNS = 400;
const keys = idpKeys;
const pem = Buffer.from(keys.rsa.publicKey.export({ type: "spki", format: "pem" }) as string);

type Role = "publisher" | "subscriber";
type Signer = "hs-publisher" | "hs-subscriber" | "hs-pem" | "hs-oct" | "rsa" | "ec" | "ed" | "stranger" | "unsigned";

const SIGNATURES: Record<Signer, Signature> = {
  "hs-publisher": { hmac: new TextEncoder().encode(PUBLISHER_KEY) },
  "hs-subscriber": { hmac: new TextEncoder().encode(SUBSCRIBER_KEY) },
  "hs-pem": { hmac: pem },
  "hs-oct": { hmac: octSecret },
  rsa: { key: keys.rsa },
  ec: { key: keys.ec },
  ed: { key: keys.ed },
  stranger: { key: keys.stranger },
  unsigned: "unsigned",
};
const NATURAL_ALG: Record<Signer, string> = { "hs-publisher": "HS256", "hs-subscriber": "HS256", "hs-pem": "HS256", "hs-oct": "HS256", rsa: "RS256", ec: "ES256", ed: "EdDSA", stranger: "RS256", unsigned: "none" };
const NATURAL_KID: Partial<Record<Signer, string>> = { rsa: "rsa-1", ec: "ec-1", ed: "ed-1", stranger: "rsa-1", "hs-oct": "oct-1" };
/** Which signer holds the private half of each served key, by its `alg`. */
const SET_KEY_OF_ALG: Readonly<Record<string, { kid: string; signer: Signer }>> = { RS256: { kid: "rsa-1", signer: "rsa" }, ES256: { kid: "ec-1", signer: "ec" }, EdDSA: { kid: "ed-1", signer: "ed" } };

interface Hub {
  readonly gw: RunningGateway;
  /** The HS256 secret of each role, by the signer that holds it. */
  readonly secrets: Partial<Record<Role, Signer>>;
  readonly keySetRoles: readonly Role[];
  readonly keySetAudience: string;
  /** MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE, for HS256 access tokens. */
  readonly accessTokens?: { readonly issuer: string; readonly audience: string };
}

interface Case {
  readonly role: Role;
  readonly signer: Signer;
  /** "natural": the signer's own algorithm; undefined: no `alg` at all. */
  readonly alg: unknown;
  readonly kid: unknown;
  readonly typ: unknown;
  readonly iss: string | undefined;
  readonly aud: string | string[] | undefined;
  readonly exp: "future" | "past" | "text" | undefined;
  readonly nbf: "past" | "future" | undefined;
  readonly grant: "valid" | "bad-mercure" | "bad-details";
  readonly shape: "ok" | "two-parts" | "four-parts" | "payload-swapped";
}

/** The good value most of the time, so that whole good tokens are generated too. */
const mostly = <T>(good: T, ...others: T[]) => fc.oneof({ arbitrary: fc.constant(good), weight: 8 }, { arbitrary: fc.constantFrom(...others), weight: 1 });

const ALL_SIGNERS: readonly Signer[] = ["hs-publisher", "hs-subscriber", "hs-pem", "hs-oct", "rsa", "ec", "ed", "stranger", "unsigned"];

/** The signers whose tokens the hub takes for a role: most cases start from one of them, so the bad field is what decides. */
function goodSigners(hub: Hub, role: Role): Signer[] {
  const secret = hub.secrets[role];
  return [...(secret === undefined ? [] : [secret]), ...(hub.keySetRoles.includes(role) ? (["rsa", "ec", "ed"] as const) : [])];
}

function caseArbitrary(hub: Hub): fc.Arbitrary<Case> {
  return fc.constantFrom<Role>("publisher", "subscriber").chain((role) => {
    const good = goodSigners(hub, role);
    return fc.record({
      role: fc.constant(role),
      signer: good.length === 0 ? fc.constantFrom(...ALL_SIGNERS) : fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 4 }, { arbitrary: fc.constantFrom(...ALL_SIGNERS), weight: 1 }),
      alg: mostly<unknown>("natural", "HS256", "RS256", "ES256", "EdDSA", "Ed25519", "PS256", "RS512", "none", "NONE", "HS512", "", "hs256", 5, null, undefined),
      kid: mostly<unknown>("natural", "rsa-1", "ec-1", "ed-1", "oct-1", "unknown", undefined, 7, ["rsa-1"]),
      // Old form and access tokens alike, then the odd spellings.
      typ: fc.oneof({ arbitrary: fc.constantFrom(undefined, "at+jwt"), weight: 8 }, { arbitrary: fc.constantFrom<unknown>("JWT", "application/at+jwt", "AT+JWT", "at+jwt2", 7), weight: 1 }),
      iss: mostly<string | undefined>(IDP, "https://evil.example", undefined),
      aud: mostly<string | string[] | undefined>(HUB_AUDIENCE, GATEWAY_AUDIENCE, ["other", HUB_AUDIENCE], ["other", GATEWAY_AUDIENCE], "wrong", undefined),
      exp: mostly<Case["exp"]>("future", "past", "text", undefined),
      nbf: mostly<Case["nbf"]>(undefined, "past", "future"),
      grant: mostly<Case["grant"]>("valid", "bad-mercure", "bad-details"),
      shape: mostly<Case["shape"]>("ok", "two-parts", "four-parts", "payload-swapped"),
    });
  });
}

const now = () => Math.floor(Date.now() / 1000);
let subjects = 0;

function tokenOf(spec: Case): string {
  const alg = spec.alg === "natural" ? NATURAL_ALG[spec.signer] : spec.alg;
  const kid = spec.kid === "natural" ? NATURAL_KID[spec.signer] : spec.kid;
  const header = { ...(alg === undefined ? {} : { alg }), ...(kid === undefined ? {} : { kid }), ...(spec.typ === undefined ? {} : { typ: spec.typ }) };
  const time = { future: now() + 3600, past: now() - 120, text: "tomorrow" };
  const claims = {
    sub: `fuzz-${subjects++}`,
    ...(spec.iss === undefined ? {} : { iss: spec.iss }),
    ...(spec.aud === undefined ? {} : { aud: spec.aud }),
    ...(spec.exp === undefined ? {} : { exp: time[spec.exp] }),
    ...(spec.nbf === undefined ? {} : { nbf: time[spec.nbf] }),
    mercure: spec.grant === "bad-mercure" ? "everything" : { publish: ["*"], subscribe: ["*"] },
    authorization_details: [{ type: "mercure", actions: spec.grant === "bad-details" ? ["read"] : ["publish", "subscribe"], topics: [{ match: "*" }] }],
  };
  const token = compactJws(header, claims, SIGNATURES[spec.signer]);
  const [head, payload, signature] = token.split(".") as [string, string, string];
  switch (spec.shape) {
    case "ok":
      return token;
    case "two-parts":
      return `${head}.${payload}`;
    case "four-parts":
      return `${token}.${signature}`;
    case "payload-swapped":
      return `${head}.${Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url")}.${signature}`;
  }
}

const hasAudience = (aud: Case["aud"], wanted: string) => aud === wanted || (Array.isArray(aud) && aud.includes(wanted));

/** The README's rules, restated: whether this token is good for its role on this hub. */
function accepted(spec: Case, hub: Hub): boolean {
  if (spec.shape !== "ok") return false;
  const alg = spec.alg === "natural" ? NATURAL_ALG[spec.signer] : spec.alg;
  const kid = spec.kid === "natural" ? NATURAL_KID[spec.signer] : spec.kid;
  const access = typeof spec.typ === "string" && ["at+jwt", "application/at+jwt"].includes(spec.typ.toLowerCase());
  const timely = spec.nbf !== "future" && spec.exp !== "past" && spec.exp !== "text";
  const grantReadable = access ? spec.grant !== "bad-details" : spec.grant !== "bad-mercure";
  if (!timely || !grantReadable) return false;
  if (alg === "HS256") {
    if (hub.secrets[spec.role] !== spec.signer) return false;
    if (!access) return true;
    const rules = hub.accessTokens;
    return rules !== undefined && spec.iss === rules.issuer && hasAudience(spec.aud, rules.audience) && spec.exp === "future";
  }
  if (typeof alg !== "string" || !KEY_SET_ALGORITHMS.includes(alg) || !hub.keySetRoles.includes(spec.role)) return false;
  const key = SET_KEY_OF_ALG[alg];
  if (key === undefined || (kid !== undefined && kid !== key.kid) || spec.signer !== key.signer) return false;
  return spec.iss === IDP && hasAudience(spec.aud, hub.keySetAudience) && spec.exp === "future";
}

async function answer(hub: Hub, role: Role, token: string): Promise<{ status: number; error?: string }> {
  if (role === "subscriber") {
    const stream = await connectSse(hub.gw.url, { token, path: `${HUB}?topic=${encodeURIComponent("https://example.com/fuzz")}` });
    const error = stream.status === 200 ? undefined : (JSON.parse(await stream.body) as { error: string }).error;
    stream.close();
    return { status: stream.status, ...(error === undefined ? {} : { error }) };
  }
  const response = await fetch(hub.gw.url + HUB, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
    body: "topic=https%3A%2F%2Fexample.com%2Ffuzz&data=x",
  });
  const text = await response.text();
  return { status: response.status, ...(response.status === 200 ? {} : { error: (JSON.parse(text) as { error: string }).error }) };
}

describe("generated Mercure tokens: accepted exactly when the rules say so, and never a 500", () => {
  let keyServer: KeyServer;
  const hubs: Hub[] = [];
  before(async () => {
    keyServer = await startKeyServer(servedKeys());
    const jwks = { JWT_SECRET: "", JWKS_URL: keyServer.url, JWT_ISSUER: IDP, JWT_AUDIENCE: GATEWAY_AUDIENCE };
    hubs.push({
      gw: await startGateway({ ...jwks, MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, MERCURE_TOKEN_ISSUER: IDP, MERCURE_TOKEN_AUDIENCE: HUB_AUDIENCE }),
      secrets: { publisher: "hs-publisher", subscriber: "hs-subscriber" },
      keySetRoles: ["subscriber"],
      keySetAudience: HUB_AUDIENCE,
      accessTokens: { issuer: IDP, audience: HUB_AUDIENCE },
    });
    hubs.push({ gw: await startGateway({ ...jwks, MERCURE_JWKS_ROLES: "publisher,subscriber" }), secrets: {}, keySetRoles: ["publisher", "subscriber"], keySetAudience: GATEWAY_AUDIENCE });
  });
  after(async () => {
    for (const hub of hubs) await hub.gw.stop();
    await keyServer.close();
  });

  it("on a hub with HS256 secrets and key-set subscribers, and on one with key-set tokens alone", async () => {
    const tally = { accepted: 0, refused: 0 };
    for (const hub of hubs) {
      await fc.assert(
        fc.asyncProperty(caseArbitrary(hub), async (spec) => {
          const expected = accepted(spec, hub);
          const got = await answer(hub, spec.role, tokenOf(spec));
          assert.equal(got.status, expected ? 200 : 401, JSON.stringify({ ...spec, error: got.error }));
          if (!expected) assert.equal(got.error, "mercure_invalid_token");
          tally[expected ? "accepted" : "refused"]++;
        }),
        { numRuns: RUNS },
      );
    }
    // Both verdicts must be exercised, or the property says little.
    assert.ok(tally.accepted >= RUNS / 10 && tally.refused >= RUNS, JSON.stringify(tally));
    assert.ok(keyServer.fetches <= 3, `${keyServer.fetches} key set fetches for ${2 * RUNS} tokens`);
  });
});
