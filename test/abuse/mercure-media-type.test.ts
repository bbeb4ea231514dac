import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { publisherToken as gatewayPublisherToken, startGateway, type RunningGateway } from "../support/gateway.ts";

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const publisherToken = () =>
  new SignJWT({ mercure: { publish: ["*"] } }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(PUBLISHER_KEY));

// A Mercure publish sent as text/plain got 415 "send the body as Content-Type: application/json":
// Mercure publishers send a form, and the JSON advice sent them the wrong way.
describe("a Mercure publish that is not a form", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY });
  });
  after(() => gw.stop());

  const post = async (contentType: string | undefined, body: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await publisherToken()}` };
    if (contentType !== undefined) headers["content-type"] = contentType;
    const response = await fetch(`${gw.url}/.well-known/mercure`, { method: "POST", headers, body });
    return { status: response.status, body: (await response.json()) as { error: string; message: string } };
  };

  it("answers 415 unsupported_media_type asking for the form, whatever the other type", async () => {
    // "foo", "form", "/": not media types at all, which fastify refuses before any parser runs.
    for (const type of ["text/plain", "application/json", "multipart/form-data; boundary=x", "application/octet-stream", "text/plain; charset=utf-8", "foo", "form", "/"]) {
      const answer = await post(type, type.startsWith("application/json") ? '{"topic":"x"}' : "topic=x&data=y");
      assert.equal(answer.status, 415, type);
      assert.equal(answer.body.error, "unsupported_media_type", type);
      assert.match(answer.body.message, /application\/x-www-form-urlencoded/, type);
      assert.doesNotMatch(answer.body.message, /send the body as Content-Type: application\/json/, type);
    }
  });

  it("still takes the form, and /publish still asks for JSON", async () => {
    const form = await fetch(`${gw.url}/.well-known/mercure`, {
      method: "POST",
      headers: { authorization: `Bearer ${await publisherToken()}`, "content-type": "application/x-www-form-urlencoded" },
      body: "topic=https%3A%2F%2Fexample.com%2Fa&data=y",
    });
    assert.equal(form.status, 200);
    const json = await fetch(`${gw.url}/publish`, { method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${await gatewayPublisherToken()}` }, body: "x" });
    assert.equal(json.status, 415);
    assert.match(((await json.json()) as { message: string }).message, /application\/json/);
  });
});
