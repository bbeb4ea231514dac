import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, token } from "../support/gateway.ts";
import { eventBridgeEvent } from "../support/sqs.ts";
import { eventually } from "../support/wait.ts";

/**
 * An SQS endpoint (the AWS JSON protocol the SDK speaks) that hands out one message and then
 * never answers its deletion: an SQS as slow as a dying network makes it. fauxqs cannot be made
 * to hang, so this stand-in does.
 */
async function startHangingSqs(body: string) {
  let handedOut = false;
  let offered = false;
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const action = String(request.headers["x-amz-target"] ?? "");
      if (action.endsWith(".ReceiveMessage") && offered && !handedOut) {
        handedOut = true;
        const md5 = createHash("md5").update(body).digest("hex");
        const message = { MessageId: "m1", ReceiptHandle: "r1", MD5OfBody: md5, Body: body, Attributes: { ApproximateReceiveCount: "1" } };
        return void response.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end(JSON.stringify({ Messages: [message] }));
      }
      if (action.endsWith(".ReceiveMessage")) {
        // A long poll with nothing in it; the gateway aborts it when it stops.
        const timer = setTimeout(() => response.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end("{}"), 100);
        return void response.on("close", () => clearTimeout(timer));
      }
      hanging.push(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    /** From now on the message is handed out (once the test's stream is open to see it). */
    offer: () => void (offered = true),
    hung: () => hanging.length,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("a drain with a deadline (the load balancer's cut)", () => {
  it("ends every stream with gateway.draining before the deadline even when a source takes long to stop", { timeout: 20_000 }, async () => {
    const sqs = await startHangingSqs(JSON.stringify(eventBridgeEvent("file.processed", { userId: "alice", fileId: "1" })));
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret" });
    const gw = await startGateway({ SQS_QUEUE_URL: `${sqs.url}/123456789012/events`, SQS_ENDPOINT: sqs.url, AWS_REGION: "eu-west-1", SQS_POLLERS: "1" });
    try {
      const stream = await connectSse(gw.url, { token: await token({ sub: "alice" }) });
      await eventually(() => /^retry: /.test(stream.raw()), 5000, "the stream open");
      sqs.offer();
      await eventually(() => sqs.hung() > 0 && /file\.processed/.test(stream.raw()), 10_000, `the message delivered and its deletion hanging`).catch((error: Error) => {
        throw new Error(`${error.message}: ${sqs.hung()} hanging, stream ${JSON.stringify(stream.raw())}`);
      });
      const drainBy = Date.now() + 2000;
      const shutdown = gw.gateway.shutdown(drainBy);
      const seenAt = await eventually(() => (/gateway\.draining/.test(stream.raw()) ? Date.now() : Date.now() > drainBy + 500 && -1), 5000, "the drain or the deadline");
      assert.ok(seenAt > 0 && seenAt <= drainBy, `gateway.draining reached the client ${seenAt < 0 ? "never" : `${seenAt - drainBy} ms after`} the deadline`);
      await sqs.close();
      await shutdown;
    } finally {
      process.env = saved;
      await sqs.close();
      if (!gw.gateway.hub.draining) await gw.stop();
    }
  });
});
