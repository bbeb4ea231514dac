import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { ERROR_CODES, type ErrorCode } from "../../src/http/errors.ts";
import { startDevGateway, type DevGateway } from "../support/dev-gateway.ts";
import { startGateway, token, TEST_SECRET, type RunningGateway } from "../support/gateway.ts";
import { startTestRedis } from "../support/redis-server.ts";
import { startWebhook } from "../support/webhook-server.ts";

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** Sends raw bytes and reads the answer up to the end of its body, so malformed HTTP can be sent too. */
function rawRequest(baseUrl: string, request: string): Promise<Answer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(request));
    let received = "";
    const finish = () => {
      const [head = "", ...rest] = received.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const contentType = /^content-type:\s*(.*)$/im.exec(head)?.[1]?.trim() ?? "";
      const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? -1);
      const text = rest.join("\r\n\r\n");
      if (length >= 0 && Buffer.byteLength(text) < length) return false;
      socket.destroy();
      resolve({ status, contentType, text });
      return true;
    };
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.includes("\r\n\r\n")) finish();
    });
    socket.on("error", () => finish() || reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 40))}`)));
    socket.on("end", () => finish() || reject(new Error("the connection ended before an answer")));
  });
}

async function get(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(new URL(path, baseUrl), { headers });
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() };
}

async function post(baseUrl: string, body: string, headers: Record<string, string>, path = "/publish"): Promise<Answer> {
  const response = await fetch(new URL(path, baseUrl), { method: "POST", headers, body });
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() };
}

const seen = new Set<ErrorCode>();

/** The one error shape: exactly `error` and `message`, JSON, the code's status, a message in words. */
function assertErrorShape(answer: Answer, code: ErrorCode, message?: RegExp): void {
  assert.equal(answer.status, ERROR_CODES[code].status, answer.text);
  assert.match(answer.contentType, /^application\/json/);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ["error", "message"], answer.text);
  assert.equal(body.error, code);
  assert.equal(typeof body.message, "string");
  const text = body.message as string;
  assert.ok(text.length > 0);
  // No raw schema wording or regular expressions, no stack traces.
  assert.doesNotMatch(text, /must NOT|must match pattern|\^\[|\\u00|\n\s+at /);
  if (message) assert.match(text, message);
  seen.add(code);
}

describe("one error shape for every error status", () => {
  let gw: RunningGateway;
  let strict: RunningGateway;
  let small: RunningGateway;
  let dev: DevGateway;
  let keyServer: http.Server;
  let jwksGateway: RunningGateway;
  let brokenJwksGateway: RunningGateway;
  const bearer = async (claims: Record<string, unknown>) => ({ authorization: `Bearer ${await token(claims)}` });
  const publisher = () => bearer({ sub: "svc", publish: ["*"] });
  const json = async () => ({ ...(await publisher()), "content-type": "application/json" });

  before(async () => {
    gw = await startGateway({ MAX_EVENT_BYTES: "1024" });
    strict = await startGateway({ JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "gateway" });
    small = await startGateway({ MAX_CONNECTIONS: "2", MAX_CONNECTIONS_PER_USER: "1" });
    dev = await startDevGateway();
    // A key server with one key at /jwks.json, and an answer that is not a key set at /broken.json.
    const { publicKey } = await generateKeyPair("RS256");
    const keys = [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256" }];
    keyServer = http.createServer((request, response) => response.end(JSON.stringify(request.url === "/jwks.json" ? { keys } : { not: "a key set" })));
    await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
    const { port } = keyServer.address() as AddressInfo;
    const jwks = (path: string) => ({ JWT_SECRET: "", JWKS_URL: `http://127.0.0.1:${port}${path}`, JWT_ISSUER: "i", JWT_AUDIENCE: "a" });
    jwksGateway = await startGateway(jwks("/jwks.json"));
    brokenJwksGateway = await startGateway(jwks("/broken.json"));
  });
  after(async () => {
    await Promise.all([gw.stop(), strict.stop(), small.stop(), dev.stop(), jwksGateway.stop(), brokenJwksGateway.stop()]);
    keyServer.close();
  });

  it("400: a publish body with an unknown field names the field", async () => {
    const body = JSON.stringify({ type: "t", users: ["u"], recipients: ["x"] });
    assertErrorShape(await post(gw.url, body, await json()), "invalid_body", /body has an unknown field "recipients"/);
  });

  it("400: a reserved type says the prefix is reserved, without a regular expression", async () => {
    const body = JSON.stringify({ type: "gateway.refetch", users: ["u"] });
    assertErrorShape(await post(gw.url, body, await json()), "invalid_body", /body\.type .*`gateway\.` is reserved/);
  });

  it("400: each kind of wrong body field is named", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ users: ["u"] }, /body is missing the required field "type"/],
      [{ type: "t", users: "alice" }, /body\.users must be an array/],
      [{ type: "t", topics: ["has space"] }, /body\.topics\[0\] must be 1 to 200 letters/],
      [{ type: "a\nb", users: ["u"] }, /body\.type must be 1 to 100 characters/],
      [{ type: "x".repeat(101), users: ["u"] }, /body\.type must be at most 100 characters/],
      [{ type: "", users: ["u"] }, /body\.type must be at least 1 characters/],
      [{ type: "t", users: ["u"], id: "" }, /body\.id must be 1 to 200 characters/],
      [{ type: "t" }, /at least one recipient/],
      // A field name from the request is echoed cut short.
      [{ type: "t", users: ["u"], ["x".repeat(500)]: 1 }, /unknown field "x{100}\.\.\." \(known fields/],
    ];
    for (const [body, message] of cases) assertErrorShape(await post(gw.url, JSON.stringify(body), await json()), "invalid_body", message);
  });

  it("400: a bad query parameter", async () => {
    const subscriber = await bearer({ sub: "ann", topics: ["*"] });
    assertErrorShape(await get(gw.url, "/events?topic=has%20space", subscriber), "invalid_request", /query\.topic\[0\] must be 1 to 200 letters/);
    assertErrorShape(await get(dev.url, "/dev/token?role=admin"), "invalid_request", /query\.role must be one of: subscriber, publisher/);
  });

  it("400: a body that is not JSON, or empty", async () => {
    assertErrorShape(await post(gw.url, "{oops", await json()), "invalid_json");
    assertErrorShape(await post(gw.url, "", await json()), "invalid_json");
  });

  it("400: a URL that cannot be decoded; malformed HTTP", async () => {
    assertErrorShape(await rawRequest(gw.url, "GET /%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "invalid_url");
    assertErrorShape(await rawRequest(gw.url, "NOT HTTP AT ALL\r\n\r\n"), "bad_request");
  });

  it("408: a request that does not arrive whole within REQUEST_TIMEOUT_MS", async () => {
    const hasty = await startGateway({ REQUEST_TIMEOUT_MS: "300" });
    try {
      assertErrorShape(await rawRequest(hasty.url, "GET /healthz HTTP/1.1\r\nHost: x\r\n"), "request_timeout");
    } finally {
      await hasty.stop();
    }
  });

  it("401: every token failure", async () => {
    const inOneHour = Math.floor(Date.now() / 1000) + 3600;
    const sign = (payload: Record<string, unknown>, secret = TEST_SECRET) =>
      new SignJWT({ exp: inOneHour, ...payload }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(secret));
    const cases: Array<[Record<string, string>, ErrorCode, RunningGateway?]> = [
      [{}, "token_missing"],
      [{ authorization: "Basic abc" }, "authorization_malformed"],
      [{ authorization: "Bearer not-a-jwt" }, "token_malformed"],
      [{ authorization: `Bearer ${await token({ sub: "ann" }, { exp: 1000 })}` }, "token_expired"],
      [{ authorization: `Bearer ${await sign({ sub: "ann" }, "another-secret-that-is-long-enough-!!")}` }, "token_bad_signature"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", nbf: inOneHour })}` }, "token_wrong_nbf"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", iat: "yesterday" })}` }, "token_wrong_iat"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", exp: "never" })}` }, "token_wrong_exp"],
      [{ authorization: `Bearer ${await sign({ sub: "" })}` }, "token_subject_invalid"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", topics: "news" })}` }, "token_claim_invalid"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", exp: undefined })}` }, "token_claim_invalid"],
      [{ authorization: `Bearer ${await sign({ sub: "ann", iss: "https://issuer.example", aud: "other" })}` }, "token_wrong_aud", strict],
      [{ authorization: `Bearer ${await sign({ sub: "ann", iss: "https://other.example", aud: "gateway" })}` }, "token_wrong_iss", strict],
    ];
    for (const [headers, code, target] of cases) {
      const answer = await get((target ?? gw).url, "/events", headers);
      assertErrorShape(answer, code);
    }
  });

  it("401 and 503: JWKS failures", async () => {
    // Signed with a key the set does not have, under an id the set does not have.
    const { privateKey } = await generateKeyPair("RS256");
    const rs = await new SignJWT({ sub: "ann" }).setProtectedHeader({ alg: "RS256", kid: "k2" }).setIssuer("i").setAudience("a").sign(privateKey);
    assertErrorShape(await get(jwksGateway.url, "/events", { authorization: `Bearer ${rs}` }), "token_unknown_key");
    assertErrorShape(await get(brokenJwksGateway.url, "/events", { authorization: `Bearer ${rs}` }), "jwks_unavailable");
    const hs = await new SignJWT({ sub: "ann" }).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(32));
    assertErrorShape(await get(jwksGateway.url, "/events", { authorization: `Bearer ${hs}` }), "token_algorithm_not_allowed");
  });

  it("403: a topic or a recipient the token does not allow", async () => {
    assertErrorShape(await get(gw.url, "/events?topic=secret", await bearer({ sub: "ann", topics: ["news"] })), "topic_not_allowed");
    const noPublish = { ...(await bearer({ sub: "ann" })), "content-type": "application/json" };
    assertErrorShape(await post(gw.url, JSON.stringify({ type: "t", users: ["u"] }), noPublish), "publish_not_allowed");
    const cookie = `access_token=${await token({ sub: "ann" })}`;
    assertErrorShape(await get(gw.url, "/events", { cookie, origin: "https://elsewhere.example" }), "origin_not_allowed");
  });

  it("401: /metrics without METRICS_TOKEN when it is set", async () => {
    const guarded = await startGateway({ METRICS_TOKEN: "a-metrics-token-of-some-length" });
    try {
      assertErrorShape(await get(guarded.url, "/metrics"), "metrics_token_required");
    } finally {
      await guarded.stop();
    }
  });

  it("401, 403, 502 and 503 from the subscriber authorizer", async () => {
    // The webhook's answer is chosen by the session cookie the stream sends.
    const answers: Record<string, { status: number; body: unknown; delayMs?: number }> = {
      refused: { status: 403, body: { message: "no access" } },
      "signed-out": { status: 401, body: { message: "sign in" } },
      broken: { status: 200, body: { topics: [] } },
      // Past any timeout (stop() clears it): under load the other answers may take long, but never this long.
      slow: { status: 200, body: {}, delayMs: 60_000 },
    };
    const webhook = await startWebhook((body) => answers[/session=(\S+)/.exec(body.headers.cookie)![1]!]!);
    const authorized = await startGateway({ AUTH_WEBHOOK_URL: webhook.url, AUTH_WEBHOOK_TIMEOUT_MS: "2000" });
    try {
      const open = (session: string) => get(authorized.url, "/events", { cookie: `session=${session}` });
      assertErrorShape(await open("refused"), "authorizer_denied", /no access/);
      const signedOut = await open("signed-out");
      assert.equal(signedOut.status, 401, "the authorizer's own status is passed on");
      assert.deepEqual(JSON.parse(signedOut.text), { error: "authorizer_denied", message: "sign in" });
      assertErrorShape(await open("broken"), "authorizer_invalid_answer");
      assertErrorShape(await open("slow"), "authorizer_unavailable");
    } finally {
      await authorized.stop();
      await webhook.stop();
    }
  });

  it("404: fastify's not-found answers the same shape, without the query string", async () => {
    const answer = await get(gw.url, "/nothing/here?access_token=secret");
    assertErrorShape(answer, "not_found", /GET \/nothing\/here/);
    assert.doesNotMatch(answer.text, /secret/);
    assertErrorShape(await get(gw.url, "/publish"), "not_found", /GET \/publish/);
  });

  it("413; 415 for every body that is not JSON", async () => {
    assertErrorShape(await post(gw.url, JSON.stringify({ type: "t", users: ["u"], data: "x".repeat(2000) }), await json()), "too_large");
    const batch = JSON.stringify({ events: [{ type: "t", users: ["u"], data: "x".repeat(1024 * 1024) }] });
    assertErrorShape(await post(gw.url, batch, await json(), "/publish/batch"), "batch_too_large", /fewer events per batch/);
    for (const type of ["text/plain", "application/xml", "application/x-www-form-urlencoded"]) {
      assertErrorShape(await post(gw.url, "hello", { ...(await publisher()), "content-type": type }), "unsupported_media_type", /application\/json/);
    }
  });

  it("429 and 503 from the stream limits carry Retry-After", async () => {
    const subscriber = await token({ sub: "ann" });
    const open = await fetch(new URL("/events", small.url), { headers: { authorization: `Bearer ${subscriber}` } });
    const response = await fetch(new URL("/events", small.url), { headers: { authorization: `Bearer ${subscriber}` } });
    assert.ok(response.headers.get("retry-after"));
    assertErrorShape({ status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() }, "too_many_streams");
    const second = await fetch(new URL("/events", small.url), { headers: { authorization: `Bearer ${await token({ sub: "bob" })}` } });
    const full = await fetch(new URL("/events", small.url), { headers: { authorization: `Bearer ${await token({ sub: "cy" })}` } });
    assert.ok(full.headers.get("retry-after"));
    assertErrorShape({ status: full.status, contentType: full.headers.get("content-type") ?? "", text: await full.text() }, "unavailable");
    await open.body?.cancel();
    await second.body?.cancel();
  });

  it("431: headers too large", async () => {
    assertErrorShape(await rawRequest(gw.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`), "header_too_large");
  });

  it("409: the same publish id with other content", async () => {
    const first = JSON.stringify({ type: "t", users: ["u"], id: "order-1" });
    assert.equal((await post(gw.url, first, await json())).status, 202);
    const changed = JSON.stringify({ type: "t", users: ["u"], id: "order-1", data: { other: true } });
    assertErrorShape(await post(gw.url, changed, await json()), "idempotency_conflict", /new `id`/);
  });

  // An internal failure cannot be caused from outside: the bus's publish is replaced for one
  // request (the only stand-in in this file).
  it("500 says nothing of the failure but the request id", async () => {
    const bus = gw.gateway.bus;
    const original = bus.publish.bind(bus);
    const body = JSON.stringify({ type: "t", users: ["u"] });
    try {
      bus.publish = async () => {
        throw new Error("secret internals at /srv/app.ts:1");
      };
      const response = await fetch(new URL("/publish", gw.url), { method: "POST", headers: { ...(await json()), "x-request-id": "req-500" }, body });
      const answer = { status: response.status, contentType: response.headers.get("content-type") ?? "", text: await response.text() };
      assertErrorShape(answer, "internal", /req-500/);
      assert.doesNotMatch(answer.text, /secret|srv/);
    } finally {
      bus.publish = original;
    }
  });

  it("503: the bus is down (a Redis nobody listens on)", async () => {
    const down = await startGateway({ REDIS_URL: "redis://127.0.0.1:9/0", REDIS_COMMAND_TIMEOUT_MS: "200" });
    try {
      assertErrorShape(await post(down.url, JSON.stringify({ type: "t", users: ["u"] }), await json()), "unavailable");
    } finally {
      await down.stop();
    }
  });

  it("500 bus_rejected: Redis refuses the event for good (its history key holds a string)", async () => {
    const redis = await startTestRedis();
    const rejecting = await startGateway({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: "shapes:" });
    const admin = new Redis(redis.url);
    try {
      await admin.set("shapes:ids:u:u", "not a stream");
      assertErrorShape(await post(rejecting.url, JSON.stringify({ type: "t", users: ["u"] }), await json()), "bus_rejected", /WRONGTYPE.*does not help/);
    } finally {
      admin.disconnect();
      await rejecting.stop();
      await redis.stop();
    }
  });

  it("401: a Mercure token that does not verify; 403: one whose selectors do not match the subscriptions URL", async () => {
    const mercure = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: TEST_SECRET, MERCURE_SUBSCRIPTIONS: "1" });
    try {
      const wrongKey = await token({ sub: "s" }, { secret: "another-secret-that-is-long-enough-for-hs256" });
      assertErrorShape(await get(mercure.url, "/.well-known/mercure?topic=x", { authorization: `Bearer ${wrongKey}` }), "mercure_invalid_token");
      const otherTopics = await new SignJWT({ mercure: { subscribe: ["https://example.com/{id}"] } }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(TEST_SECRET));
      assertErrorShape(await get(mercure.url, "/.well-known/mercure/subscriptions", { authorization: `Bearer ${otherTopics}` }), "subscriptions_not_allowed", /mercure\.subscribe/);
    } finally {
      await mercure.stop();
    }
  });

  it("every code of the table was answered above", () => {
    assert.deepEqual(Object.keys(ERROR_CODES).filter((code) => !seen.has(code as ErrorCode)), []);
  });
});

describe("the README's error table", () => {
  it("lists every code with its status, and no other", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("### Errors"), readme.indexOf("\n## ", readme.indexOf("### Errors")));
    const rows = [...section.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((match) => `${match[1]} ${match[2]}`);
    const expected = Object.entries(ERROR_CODES).map(([code, spec]) => `${code} ${spec.status}`);
    const missing = Object.entries(ERROR_CODES)
      .filter(([code, spec]) => !rows.includes(`${code} ${spec.status}`))
      .map(([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.when} |`);
    assert.deepEqual(missing, [], `add these rows to the README's error table:\n${missing.join("\n")}`);
    assert.deepEqual(rows.filter((row) => !expected.includes(row)), [], "the README lists codes the gateway does not answer");
  });
});
