import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startKeyServer, type KeyServer } from "../support/key-server.ts";
import { GATEWAY_AUDIENCE, HUB_AUDIENCE, IDP, idpKeys, octSecret, PUBLISHER_KEY, servedKeys, SUBSCRIBER_KEY } from "../support/mercure-idp.ts";
import { compactJws, type Signature, type SigningKey } from "../support/signing-keys.ts";
import { connectSse, type SseConnection } from "../support/sse-client.ts";

const HUB = "/.well-known/mercure";
const text = (value: string) => new TextEncoder().encode(value);
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const { rsa, ec, ed, stranger } = idpKeys;

interface TokenSpec {
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
  readonly signature?: Signature;
  readonly key?: SigningKey;
}

/** A Mercure token from the identity provider: the key's algorithm and kid, the given audience. */
function idpToken(key: SigningKey, audience: string, spec: Omit<TokenSpec, "key"> = {}): string {
  const claims = { iss: IDP, aud: audience, exp: inAnHour(), sub: `u-${randomBytes(4).toString("hex")}`, mercure: { subscribe: ["https://example.com/private/{id}"], publish: ["*"] }, ...spec.claims };
  return compactJws({ alg: key.alg, kid: key.kid, ...spec.header }, claims, spec.signature ?? { key });
}

/** An OAuth access token (typ at+jwt) of the newer revision. */
function accessToken(key: SigningKey, audience: string): string {
  const details = [{ type: "mercure", actions: ["subscribe", "publish"], topics: [{ match: "https://example.com/private/:id", matchType: "URLPattern" }] }];
  return compactJws({ alg: key.alg, kid: key.kid, typ: "at+jwt" }, { iss: IDP, aud: [audience, "other"], exp: inAnHour(), sub: "at-user", authorization_details: details }, { key });
}

const hs256 = (claims: Record<string, unknown>, secret: string) => compactJws({ alg: "HS256" }, claims, { hmac: text(secret) });

async function publishForm(gw: RunningGateway, token: string, fields: [string, string][]): Promise<{ status: number; body: string }> {
  const response = await fetch(gw.url + HUB, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: await response.text() };
}

function subscribe(gw: RunningGateway, token: string, topic = "https://example.com/private/{id}"): Promise<SseConnection> {
  return connectSse(gw.url, { token, path: `${HUB}?topic=${encodeURIComponent(topic)}` });
}

async function refusal(stream: SseConnection): Promise<{ status: number; error: string; message: string; authenticate: string | undefined }> {
  const body = stream.status === 200 ? { error: "", message: "" } : JSON.parse(await stream.body);
  stream.close();
  return { status: stream.status, error: body.error, message: body.message, authenticate: stream.headers["www-authenticate"] as string | undefined };
}

describe("Mercure tokens signed with keys of JWKS_URL", () => {
  let keyServer: KeyServer;
  let gw: RunningGateway;
  before(async () => {
    keyServer = await startKeyServer(servedKeys());
    gw = await startGateway({
      JWT_SECRET: "",
      JWKS_URL: keyServer.url,
      JWT_ISSUER: IDP,
      JWT_AUDIENCE: GATEWAY_AUDIENCE,
      MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY,
      MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY,
      MERCURE_TOKEN_ISSUER: IDP,
      MERCURE_TOKEN_AUDIENCE: HUB_AUDIENCE,
    });
  });
  after(async () => {
    await gw.stop();
    await keyServer.close();
  });

  it("RS256, ES256 and EdDSA subscribers, old form and access tokens, receive their private updates; HS256 ones still do; one key set serves /events too", async () => {
    const tokens: [string, string][] = [
      ...[rsa, ec, ed].flatMap((key): [string, string][] => [
        [`${key.alg} mercure claim`, idpToken(key, HUB_AUDIENCE)],
        [`${key.alg} at+jwt`, accessToken(key, HUB_AUDIENCE)],
      ]),
      ["HS256", hs256({ mercure: { subscribe: ["*"] } }, SUBSCRIBER_KEY)],
    ];
    const streams = await Promise.all(tokens.map(([, token], i) => subscribe(gw, token, `https://example.com/private/${i}`)));
    for (const [i, stream] of streams.entries()) assert.equal(stream.status, 200, `${tokens[i]![0]}: ${stream.status !== 200 ? await stream.body : ""}`);
    const publisher = hs256({ mercure: { publish: ["*"] } }, PUBLISHER_KEY);
    for (const i of streams.keys()) {
      const published = await publishForm(gw, publisher, [["topic", `https://example.com/private/${i}`], ["data", `secret ${i}`], ["private", "on"]]);
      assert.equal(published.status, 200, published.body);
    }
    for (const [i, stream] of streams.entries()) {
      const [event] = await stream.waitFor(1, (event) => event.data === `secret ${i}`);
      assert.ok(event, tokens[i]![0]);
      stream.close();
    }
    const events = await connectSse(gw.url, { token: compactJws({ alg: "RS256", kid: "rsa-1" }, { iss: IDP, aud: GATEWAY_AUDIENCE, sub: "ann", exp: inAnHour() }, { key: rsa }) });
    assert.equal(events.status, 200);
    events.close();
    assert.equal(keyServer.fetches, 1, "the hub and /events share one key set, fetched once");
  });

  it("refuses every algorithm confusion and bad key with 401 invalid_token, naming why", async () => {
    const pem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
    const cases: [string, string, RegExp][] = [
      ["HS256 signed with the RSA public key (PEM) as secret", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "HS256" }, signature: { hmac: text(pem) } }), /does not verify/],
      ["HS256 signed with the JWK's modulus as secret", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "HS256" }, signature: { hmac: text(String(rsa.jwk.n)) } }), /does not verify/],
      ["HS256 signed with the set's own oct key", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "HS256", kid: "oct-1" }, signature: { hmac: octSecret } }), /does not verify/],
      ["alg none", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "none" }, signature: "unsigned" }), /algorithm "none" is not accepted/],
      ["alg NONE", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "NONE" }, signature: "unsigned" }), /is not accepted/],
      ["alg HS512", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "HS512" }, signature: { hmac: text(SUBSCRIBER_KEY) } }), /is not accepted/],
      ["a kid the set lacks", idpToken(rsa, HUB_AUDIENCE, { header: { kid: "rsa-2" } }), /no key of JWKS_URL matches/],
      ["the kid of a key of another type", idpToken(rsa, HUB_AUDIENCE, { header: { kid: "ec-1" } }), /no key of JWKS_URL matches/],
      ["ES256 claimed over an RSA key's kid", idpToken(ec, HUB_AUDIENCE, { header: { kid: "rsa-1" } }), /no key of JWKS_URL matches/],
      ["a key outside the set under its kid", idpToken(stranger, HUB_AUDIENCE), /does not verify/],
      ["RS256 signature, PS256 claimed", idpToken(rsa, HUB_AUDIENCE, { header: { alg: "PS256" } }), /no key of JWKS_URL matches/],
      ["another issuer", idpToken(rsa, HUB_AUDIENCE, { claims: { iss: "https://evil.example" } }), /`iss` claim/],
      ["another audience", idpToken(rsa, "https://other-app.example"), /`aud` claim/],
      ["the /events audience", idpToken(rsa, GATEWAY_AUDIENCE), /`aud` claim/],
      ["no exp", idpToken(rsa, HUB_AUDIENCE, { claims: { exp: undefined } }), /`exp` claim/],
      ["expired", idpToken(rsa, HUB_AUDIENCE, { claims: { exp: 1000 } }), /expired/],
      ["not yet valid", idpToken(rsa, HUB_AUDIENCE, { claims: { nbf: inAnHour() } }), /`nbf` claim/],
    ];
    for (const [name, token, message] of cases) {
      const answer = await refusal(await subscribe(gw, token));
      assert.equal(answer.status, 401, name);
      assert.equal(answer.error, "mercure_invalid_token", name);
      assert.match(answer.message, message, name);
      assert.match(answer.authenticate ?? "", /invalid_token/, name);
    }
    assert.ok(keyServer.fetches <= 2, `${keyServer.fetches} fetches: unknown kids refetch at most once per cooldown`);
  });

  it("does not let the provider's keys mint publisher tokens unless MERCURE_JWKS_ROLES names publisher", async () => {
    const fetches = keyServer.fetches;
    const answer = await publishForm(gw, idpToken(rsa, HUB_AUDIENCE), [["topic", "https://example.com/a"], ["data", "x"]]);
    assert.equal(answer.status, 401);
    assert.match(JSON.parse(answer.body).message, /MERCURE_JWKS_ROLES/);
    assert.equal(keyServer.fetches, fetches, "refused before any key is looked up");
  });
});

describe("a Mercure hub on JWKS_URL alone (MERCURE_JWKS_ROLES=subscriber,publisher, no HS256 keys)", () => {
  let keyServer: KeyServer;
  let gw: RunningGateway;
  before(async () => {
    keyServer = await startKeyServer(servedKeys());
    gw = await startGateway({ JWT_SECRET: "", JWKS_URL: keyServer.url, JWT_ISSUER: IDP, JWT_AUDIENCE: GATEWAY_AUDIENCE, MERCURE_JWKS_ROLES: "subscriber,publisher" });
  });
  after(async () => {
    await gw.stop();
    await keyServer.close();
  });

  it("publishes with key-set tokens held to JWT_ISSUER and JWT_AUDIENCE, and refuses HS256 ones, saying so", async () => {
    const stream = await subscribe(gw, idpToken(ed, GATEWAY_AUDIENCE));
    assert.equal(stream.status, 200);
    for (const key of [rsa, ec, ed]) {
      const published = await publishForm(gw, idpToken(key, GATEWAY_AUDIENCE), [["topic", "https://example.com/private/1"], ["data", `by ${key.alg}`], ["private", "on"]]);
      assert.equal(published.status, 200, published.body);
    }
    assert.equal((await stream.waitFor(3)).length, 3);
    stream.close();
    const atPublish = await publishForm(gw, accessToken(ec, GATEWAY_AUDIENCE), [["topic", "https://example.com/private/2"], ["data", "at"]]);
    assert.equal(atPublish.status, 200, atPublish.body);
    for (const [role, answer] of [
      ["publisher", JSON.parse((await publishForm(gw, hs256({ mercure: { publish: ["*"] } }, PUBLISHER_KEY), [["topic", "t"], ["data", "x"]])).body)],
      ["subscriber", await refusal(await subscribe(gw, hs256({}, SUBSCRIBER_KEY)))],
    ] as const) {
      assert.equal(answer.error, "mercure_invalid_token", role);
      assert.match(answer.message, new RegExp(`no HS256 key for ${role} tokens`), role);
    }
  });
});

describe("a key set that cannot be fetched", () => {
  let keyServer: KeyServer;
  let gw: RunningGateway | undefined;
  const env = () => ({ JWT_SECRET: "", JWKS_URL: keyServer.url, JWT_ISSUER: IDP, JWT_AUDIENCE: GATEWAY_AUDIENCE, MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_ANONYMOUS: "1" });
  before(async () => {
    keyServer = await startKeyServer(servedKeys());
  });
  after(async () => {
    await gw?.stop();
    await keyServer.close();
  });

  it("answers 503 jwks_unavailable with Retry-After, failing, refused or hanging (within the fetch timeout), never a 500; HS256 tokens go on", async () => {
    for (const mode of ["fail", "refuse", "hang"] as const) {
      await gw?.stop();
      gw = await startGateway(env());
      keyServer.mode = mode;
      const started = Date.now();
      const stream = await subscribe(gw, idpToken(rsa, GATEWAY_AUDIENCE));
      const elapsed = Date.now() - started;
      assert.equal(stream.status, 503, mode);
      assert.ok(Number(stream.headers["retry-after"]) >= 1, mode);
      assert.equal(JSON.parse(await stream.body).error, "jwks_unavailable", mode);
      assert.ok(elapsed < 8000, `${mode}: answered after ${elapsed} ms (the fetch times out at 5 s)`);
      const again = Date.now();
      const second = await subscribe(gw, idpToken(ec, GATEWAY_AUDIENCE));
      assert.equal(second.status, 503, mode);
      assert.ok(Date.now() - again < 1000, `${mode}: within the failure backoff the answer comes at once`);
      second.close();
      const hs = await subscribe(gw, hs256({ mercure: { subscribe: ["*"] } }, PUBLISHER_KEY));
      assert.equal(hs.status, 200, `${mode}: HS256 needs no key set`);
      hs.close();
    }
    keyServer.mode = "serve";
  });
});
