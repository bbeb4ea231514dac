import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { startDevGateway, type DevGateway } from "../support/dev-gateway.ts";

describe("GET /dev/token", () => {
  let dev: DevGateway;
  before(async () => {
    dev = await startDevGateway();
  });
  after(() => dev.stop());

  const claimsOf = async (query: string) => {
    const response = await fetch(new URL(`/dev/token?${query}`, dev.url));
    assert.equal(response.status, 200);
    return decodeJwt(((await response.json()) as { token: string }).token);
  };

  it("signs for the sub asked for, for either role", async () => {
    assert.equal((await claimsOf("role=publisher&sub=billing")).sub, "billing");
    assert.deepEqual((await claimsOf("role=publisher&sub=billing")).publish, ["*"]);
    assert.equal((await claimsOf("role=subscriber&sub=alice")).sub, "alice");
  });

  it("defaults to demo-user for a subscriber and demo-publisher for a publisher", async () => {
    assert.equal((await claimsOf("")).sub, "demo-user");
    assert.equal((await claimsOf("role=publisher")).sub, "demo-publisher");
  });
});
