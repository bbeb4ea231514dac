import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";

describe("authentication and authorisation", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ JWT_AUDIENCE: "sse-gateway", JWT_ISSUER: "https://issuer.test" });
  });
  after(() => gw.stop());

  const good = (claims: Record<string, unknown> = {}) =>
    token({ sub: "alice", topics: ["news", "orders.*"], aud: "sse-gateway", iss: "https://issuer.test", ...claims });

  async function refusal(options: Parameters<typeof connectSse>[1]) {
    const connection = await connectSse(gw.url, options);
    const body = JSON.parse(await connection.body);
    return { status: connection.status, code: body.error as string, message: body.message as string, headers: connection.headers };
  }

  it("accepts a valid token from the header, the query string or the cookie", async () => {
    const valid = await good();
    for (const options of [
      { token: valid },
      { headers: { cookie: `access_token=${valid}` } },
    ]) {
      const connection = await connectSse(gw.url, options);
      assert.equal(connection.status, 200);
      connection.close();
    }
    const viaQuery = await fetch(`${gw.url}/events?access_token=${valid}`);
    assert.equal(viaQuery.status, 200);
    assert.match(viaQuery.headers.get("content-type")!, /^text\/event-stream/);
    await viaQuery.body?.cancel();
  });

  const cases: Array<[string, () => Promise<Parameters<typeof connectSse>[1]>, number, string, RegExp]> = [
    ["no token", async () => ({}), 401, "token_missing", /no token/],
    ["a malformed token", async () => ({ token: "not.a.jwt" }), 401, "token_malformed", /well-formed/],
    ["a malformed header", async () => ({ headers: { authorization: "Token abc" } }), 401, "authorization_malformed", /Bearer/],
    ["an expired token", async () => ({ token: await token({ sub: "alice", aud: "sse-gateway", iss: "https://issuer.test" }, { exp: Math.floor(Date.now() / 1000) - 60 }) }), 401, "token_expired", /expired/],
    ["a bad signature", async () => ({ token: await token({ sub: "alice", aud: "sse-gateway", iss: "https://issuer.test" }, { secret: "another-secret-another-secret-another-secret" }) }), 401, "token_bad_signature", /signature/],
    ["a wrong audience", async () => ({ token: await good({ aud: "someone-else" }) }), 401, "token_wrong_aud", /audience/],
    ["a wrong issuer", async () => ({ token: await good({ iss: "https://evil.test" }) }), 401, "token_wrong_iss", /issuer/],
    ["no subject", async () => ({ token: await good({ sub: undefined }) }), 401, "token_subject_invalid", /sub/],
    ["a topic outside the claim", async () => ({ token: await good(), topics: ["admin"] }), 403, "topic_not_allowed", /"admin"/],
    ["a topic claim that is not a list", async () => ({ token: await good({ topics: "news" }) }), 401, "token_claim_invalid", /topics/],
  ];
  for (const [what, options, status, code, message] of cases) {
    it(`refuses ${what} with ${status} ${code} and a reason`, async () => {
      const result = await refusal(await options());
      assert.equal(result.status, status);
      assert.equal(result.code, code);
      assert.match(result.message, message);
      if (status === 401) assert.match(String(result.headers["www-authenticate"]), /Bearer error="invalid_token"/);
    });
  }

  it("counts auth failures by reason in /metrics", async () => {
    await refusal({ token: "not.a.jwt" });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /sse_gateway_auth_failures_total\{reason="token_malformed"\} [1-9]/);
  });

  it("lets only tokens with a matching publish claim publish", async () => {
    const subscriber = await good();
    const narrow = await token({ sub: "svc", publish: ["orders.*"], aud: "sse-gateway", iss: "https://issuer.test" });
    const noRecipientsOk = await publish(gw.url, { topics: ["news"], type: "t" }, subscriber);
    assert.equal(noRecipientsOk.status, 403);
    assert.equal(noRecipientsOk.body.error, "publish_not_allowed");
    assert.equal((await publish(gw.url, { topics: ["orders.1"], type: "t" }, narrow)).status, 202);
    const toUser = await publish(gw.url, { users: ["alice"], type: "t" }, narrow);
    assert.equal(toUser.status, 403);
    assert.match(toUser.body.message, /user:alice/);
    const viaQuery = await fetch(`${gw.url}/publish?access_token=${narrow}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"topics":["orders.1"],"type":"t"}' });
    assert.equal(viaQuery.status, 401, "publisher tokens are taken from the Authorization header only");
  });
});
