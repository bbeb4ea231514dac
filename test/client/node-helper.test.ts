import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { eventBridgeEntry, publish, PublishError } from "../../client/src/node.ts";
import { parsePublishRequest } from "../../src/events/publish-request.ts";
import { defaultRouting, eventBridgeToPublishRequest } from "../../src/ingest/sqs/eventbridge-routing.ts";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { publisherToken, startGateway, token, type RunningGateway } from "../support/gateway.ts";

/**
 * sse-gateway-client/node against a real gateway. A small proxy in front plays the network's
 * part: it can answer 503 itself, hang, or pass a request on and then lose the answer, so a retry
 * whose first attempt did reach the gateway is seen.
 */

type Fault = "503" | "hang" | "lose-answer";

interface Proxy {
  readonly url: string;
  readonly faults: Fault[];
  /** Request bodies that reached the gateway through the proxy. */
  readonly forwarded: string[];
  attempts: number;
  close(): Promise<void>;
}

async function startProxy(gatewayUrl: string): Promise<Proxy> {
  const sockets = new Set<import("node:net").Socket>();
  const proxy: Omit<Proxy, "url" | "close"> = { faults: [], forwarded: [], attempts: 0 };
  const server = http.createServer(async (request, response) => {
    proxy.attempts++;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const fault = proxy.faults.shift();
    if (fault === "503") return void response.writeHead(503, { "retry-after": "0", "content-type": "application/json" }).end('{"error":"unavailable","message":"test"}');
    if (fault === "hang") return;
    proxy.forwarded.push(body);
    const answer = await fetch(new URL(request.url!, gatewayUrl), { method: "POST", headers: request.headers as Record<string, string>, body });
    if (fault === "lose-answer") return void request.socket.destroy();
    response.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" }).end(await answer.text());
  });
  server.on("connection", (socket) => sockets.add(socket).size && socket.once("close", () => sockets.delete(socket)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

describe("publish() from sse-gateway-client/node", () => {
  let gateway: RunningGateway;
  let proxy: Proxy;
  let stream: SseConnection;
  let publisher: string;

  before(async () => {
    gateway = await startGateway();
    proxy = await startProxy(gateway.url);
    publisher = await publisherToken();
    stream = await connectSse(gateway.url, { token: await token({ sub: "nora", topics: ["*"] }) });
    assert.equal(stream.status, 200);
  });

  after(async () => {
    stream?.close();
    await proxy?.close();
    await gateway?.stop();
  });

  test("publishes a typed body and returns the event's id; the subscriber gets it", async () => {
    const result = await publish<{ n: number }>({ url: gateway.url, token: publisher }, { users: ["nora"], type: "note.added", data: { n: 1 } });
    assert.equal(result.duplicate, false);
    const [event] = await stream.waitFor(1, (event) => event.id === result.id);
    assert.deepEqual({ type: event!.event, data: JSON.parse(event!.data) }, { type: "note.added", data: { n: 1 } });
  });

  test("an answer lost after the gateway took the event: the retry carries the same key and the event is published once", async () => {
    proxy.faults.push("lose-answer");
    const before = proxy.forwarded.length;
    const result = await publish({ url: proxy.url, token: () => publisher }, { users: ["nora"], type: "note.added", data: { lost: true } });
    const sent = proxy.forwarded.slice(before).map((body) => JSON.parse(body));
    assert.equal(sent.length, 2, "two attempts reached the gateway");
    assert.equal(sent[0].id, sent[1].id, "with one idempotency key");
    assert.equal(result.duplicate, true, "the second was recognised as the first");
    await stream.waitFor(1, (event) => event.id === result.id);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(stream.events.filter((event) => event.data === '{"lost":true}').length, 1, "delivered once");
  });

  test("503s and a hung attempt are retried until the gateway takes the event", async () => {
    proxy.faults.push("503", "hang", "503");
    const attempts = proxy.attempts;
    const result = await publish({ url: proxy.url, token: publisher, timeoutMs: 300, retries: 3 }, { topics: ["news"], type: "headline", data: {} });
    assert.equal(proxy.attempts - attempts, 4);
    assert.equal(result.duplicate, false);
  });

  test("retries stop after `retries`: the error says how it ended", async () => {
    proxy.faults.push("503", "503", "503");
    const error = await publish({ url: proxy.url, token: publisher, retries: 2 }, { topics: ["news"], type: "headline" }).catch((error: unknown) => error);
    assert.ok(error instanceof PublishError);
    assert.equal(error.status, 503);
    assert.equal(error.code, "unavailable");
    assert.match(error.message, /after 3 attempts/);
  });

  test("no answer at all: status 0 after the retries", async () => {
    const error = await publish({ url: "http://127.0.0.1:9", token: publisher, retries: 1 }, { topics: ["news"], type: "headline" }).catch((error: unknown) => error);
    assert.ok(error instanceof PublishError);
    assert.equal(error.status, 0);
  });

  test("refusals are not retried: 400 and 403 throw at once with the gateway's code", async () => {
    const attempts = proxy.attempts;
    const invalid = await publish({ url: proxy.url, token: publisher }, { type: "gateway.mine", users: ["nora"] }).catch((error: unknown) => error);
    assert.ok(invalid instanceof PublishError);
    assert.equal(invalid.status, 400);
    const reader = await token({ sub: "nora", topics: ["*"] });
    const forbidden = await publish({ url: `${proxy.url}/publish`, token: reader }, { type: "x", users: ["nora"] }).catch((error: unknown) => error);
    assert.ok(forbidden instanceof PublishError);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.code, "publish_not_allowed");
    assert.equal(proxy.attempts - attempts, 2, "one attempt each");
  });
});

describe("eventBridgeEntry()", () => {
  const userId = fc.stringMatching(/^[A-Za-z0-9_.@-]{1,40}$/);
  const topic = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,30}$/);
  const detail = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 10 }).filter((key) => !["userId", "userIds", "topic", "topics", "__proto__"].includes(key)),
    fc.jsonValue(),
    { maxKeys: 5 },
  );

  /** The event EventBridge delivers to the gateway's queue for an entry. */
  const delivered = (entry: ReturnType<typeof eventBridgeEntry>) => ({
    version: "0",
    id: "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
    "detail-type": entry.DetailType,
    source: entry.Source,
    detail: JSON.parse(entry.Detail),
  });

  test("what the gateway routes from the entry is what was asked: recipients, type, and the data with them", () => {
    fc.assert(
      fc.property(fc.uniqueArray(userId, { maxLength: 4 }), fc.uniqueArray(topic, { maxLength: 4 }), detail, (users, topics, data) => {
        fc.pre(users.length + topics.length > 0);
        const entry = eventBridgeEntry({ source: "app.orders", type: "order.updated", data, users, topics, eventBusName: "bus" });
        assert.equal(entry.EventBusName, "bus");
        const request = parsePublishRequest(eventBridgeToPublishRequest(delivered(entry), defaultRouting));
        assert.deepEqual([...request.users!].sort(), [...users].sort());
        assert.deepEqual([...request.topics!].sort(), [...topics].sort());
        assert.equal(request.type, "order.updated");
        const { userIds, topics: routedTopics, ...rest } = request.data as Record<string, unknown>;
        assert.deepEqual(rest, JSON.parse(JSON.stringify(data)));
        assert.deepEqual(userIds ?? [], users);
        assert.deepEqual(routedTopics ?? [], topics);
      }),
    );
  });

  test("refuses what the gateway would misroute: data that is not an object, a recipient field in the data, no recipient", () => {
    assert.throws(() => eventBridgeEntry({ source: "app.x", type: "t", data: [1] as never, users: ["u"] }), /JSON object/);
    assert.throws(() => eventBridgeEntry({ source: "app.x", type: "t", data: { userId: "someone" }, users: ["u"] }), /data\.userId/);
    assert.throws(() => eventBridgeEntry({ source: "app.x", type: "t", data: {} }), /at least one recipient/);
  });
});
