import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import https from "node:https";
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import { after, before, describe, test } from "node:test";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { createParser } from "eventsource-parser";
import { startGateway, token, publisherToken, type RunningGateway } from "../support/gateway.ts";
import { makeSelfSignedCertificate, type SelfSignedCertificate } from "../support/tls.ts";
import { eventually } from "../support/wait.ts";

/** Headers that only mean something on an HTTP/1.1 connection (RFC 9113, 8.2.2). */
const CONNECTION_SPECIFIC = ["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"];
const STREAMS = 24;

interface Http2Stream {
  readonly headers: IncomingHttpHeaders;
  readonly events: { id?: string; event?: string; data: string }[];
  close(): void;
}

/** Opens GET /events as one stream of the given session and resolves once its headers arrive. */
function openStream(session: ClientHttp2Session, path: string, bearer: string): Promise<Http2Stream> {
  return new Promise((resolve, reject) => {
    const request = session.request({ ":path": path, accept: "text/event-stream", authorization: `Bearer ${bearer}` });
    const events: Http2Stream["events"] = [];
    const parser = createParser({ onEvent: (message) => events.push({ id: message.id, event: message.event, data: message.data }) });
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => parser.feed(chunk));
    request.once("response", (headers) => resolve({ headers, events, close: () => request.close() }));
    request.once("error", reject);
  });
}

/** One request/response over the session, body as text. */
function exchange(session: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = session.request(headers);
    let text = "";
    let responseHeaders: IncomingHttpHeaders = {};
    request.setEncoding("utf8");
    request.once("response", (received) => (responseHeaders = received));
    request.on("data", (chunk: string) => (text += chunk));
    request.once("end", () => resolve({ headers: responseHeaders, body: text }));
    request.once("error", reject);
    request.end(body);
  });
}

function assertNoConnectionHeaders(headers: IncomingHttpHeaders, what: string): void {
  for (const name of CONNECTION_SPECIFIC) assert.equal(headers[name], undefined, `${what} carries the HTTP/1.1-only header ${name}`);
}

describe("native HTTP/2 over TLS (TLS_CERT / TLS_KEY)", { timeout: 30_000 }, () => {
  let certificate: SelfSignedCertificate;
  let running: RunningGateway;
  let ca: Buffer;

  before(async () => {
    certificate = makeSelfSignedCertificate();
    ca = readFileSync(certificate.certPath);
    running = await startGateway({ TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
  });

  after(async () => {
    await running?.stop();
    certificate?.remove();
  });

  test(`${STREAMS} SSE streams share ONE HTTP/2 connection and all receive a published event`, async () => {
    let connections = 0;
    const countConnection = () => connections++;
    running.gateway.app.server.on("secureConnection", countConnection);
    const session = http2.connect(running.url, { ca });
    try {
      // One user per stream: MAX_CONNECTIONS_PER_USER stays at its default.
      const subscribers = await Promise.all(Array.from({ length: STREAMS }, (_, n) => token({ sub: `reader-${n}`, topics: ["news"] })));
      const streams = await Promise.all(subscribers.map((subscriber) => openStream(session, "/events?topic=news", subscriber)));
      for (const stream of streams) {
        assert.equal(stream.headers[":status"], 200);
        assert.match(String(stream.headers["content-type"]), /^text\/event-stream/);
        assertNoConnectionHeaders(stream.headers, "the SSE response");
      }
      assert.equal(session.alpnProtocol, "h2");
      await eventually(() => running.gateway.hub.size === STREAMS, 5000, `${STREAMS} streams in the hub`);

      const published = await exchange(
        session,
        { ":method": "POST", ":path": "/publish", "content-type": "application/json", authorization: `Bearer ${await publisherToken()}` },
        JSON.stringify({ topics: ["news"], type: "headline", data: { n: 1 } }),
      );
      assert.equal(published.headers[":status"], 202, published.body);
      assertNoConnectionHeaders(published.headers, "the publish response");
      const { id } = JSON.parse(published.body) as { id: string };

      await eventually(() => streams.every((stream) => stream.events.some((event) => event.id === id)), 5000, "the event on every stream");
      for (const stream of streams) {
        const event = stream.events.find((received) => received.id === id);
        assert.equal(event?.event, "headline");
        assert.deepEqual(JSON.parse(event?.data ?? "null"), { n: 1 });
      }
      assert.equal(connections, 1, "all streams went over one TLS connection");
      for (const stream of streams) stream.close();
    } finally {
      running.gateway.app.server.off("secureConnection", countConnection);
      session.close();
    }
  });

  test("plain responses over HTTP/2 carry no HTTP/1.1-only header", async () => {
    const session = http2.connect(running.url, { ca });
    try {
      for (const path of ["/", "/healthz", "/readyz", "/metrics", "/events"]) {
        const response = await exchange(session, { ":path": path });
        assert.ok(Number(response.headers[":status"]) < 500, `${path} answered ${response.headers[":status"]}`);
        assertNoConnectionHeaders(response.headers, path);
      }
    } finally {
      session.close();
    }
  });

  test("a client that offers only http/1.1 in ALPN is served over HTTP/1.1 and receives events", async () => {
    const subscriber = await token({ sub: "bob" });
    const options: https.RequestOptions & ConnectionOptions = {
      ca,
      ALPNProtocols: ["http/1.1"],
      agent: false,
      headers: { authorization: `Bearer ${subscriber}` },
    };
    const received = new Promise<string>((resolve, reject) => {
      const request = https.get(
        new URL("/events", running.url),
        options,
        (response) => {
          assert.equal((response.socket as TLSSocket).alpnProtocol, "http/1.1");
          assert.equal(response.httpVersion, "1.1");
          assert.equal(response.statusCode, 200);
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
            if (text.includes("event: direct")) {
              request.destroy();
              resolve(text);
            }
          });
        },
      );
      request.once("error", reject);
    });
    await eventually(() => running.gateway.hub.size >= 1, 5000, "the HTTP/1.1 stream in the hub");
    const session = http2.connect(running.url, { ca });
    try {
      const published = await exchange(
        session,
        { ":method": "POST", ":path": "/publish", "content-type": "application/json", authorization: `Bearer ${await publisherToken()}` },
        JSON.stringify({ users: ["bob"], type: "direct", data: "hi" }),
      );
      assert.equal(published.headers[":status"], 202, published.body);
    } finally {
      session.close();
    }
    assert.match(await received, /event: direct\ndata: "hi"/);
  });
});

describe("shutdown with HTTP/2 clients attached", { timeout: 30_000 }, () => {
  test("the drain reaches an HTTP/2 stream and the server closes although the client keeps its connection", async () => {
    const certificate = makeSelfSignedCertificate();
    const running = await startGateway({ TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath, SHUTDOWN_GRACE_MS: "500" });
    const session = http2.connect(running.url, { ca: readFileSync(certificate.certPath) });
    try {
      const stream = await openStream(session, "/events", await token({ sub: "carol" }));
      await eventually(() => running.gateway.hub.size === 1, 5000, "the stream in the hub");
      const started = Date.now();
      await running.stop();
      const stoppedAfterMs = Date.now() - started;
      assert.ok(stoppedAfterMs < 5000, `shutdown took ${stoppedAfterMs} ms`);
      await eventually(() => stream.events.some((event) => event.event === "gateway.draining"), 2000, "gateway.draining");
    } finally {
      session.destroy();
      certificate.remove();
    }
  });
});
