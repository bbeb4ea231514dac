import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";

// Found by an attack pass: a GET /events pipelined behind another on one HTTP/1.1 connection
// opened a second stream on the same socket: its response head and its user's events went out
// inside the first stream's body.
describe("HTTP/1.1 requests pipelined behind a stream", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it("are not served: the connection carries the first stream alone, and the second user's events never reach it", async () => {
    const [first, second] = [await token({ sub: "pipe-first" }), await token({ sub: "pipe-second" })];
    const socket = net.connect(Number(new URL(gw.url).port), "127.0.0.1");
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", () => undefined);
    await new Promise((resolve) => socket.once("connect", resolve));
    const request = (bearer: string) => `GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\n\r\n`;
    socket.write(request(first) + request(second) + request(second));
    const deadline = Date.now() + 5000;
    while (!received.includes("\n\nid:") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    await publish(gw.url, { users: ["pipe-second"], type: "for-second" });
    await publish(gw.url, { users: ["pipe-first"], type: "for-first" });
    while (!received.includes("for-first") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    assert.equal(received.match(/HTTP\/1\.1 /g)?.length, 1, received);
    assert.match(received, /event: for-first/);
    assert.doesNotMatch(received, /for-second/);
  });
});
