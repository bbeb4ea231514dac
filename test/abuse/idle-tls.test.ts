import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { makeSelfSignedCertificate, type SelfSignedCertificate } from "../support/tls.ts";

const TIMEOUT_MS = 1000;
/** As for slow requests: REQUEST_TIMEOUT_MS plus one check interval, with some slack. */
const BOUND_MS = TIMEOUT_MS + 1000 + 500;
const PER_KIND = 40;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
/** A HEADERS frame on stream 1 (GET, https, /) without END_HEADERS: the CONTINUATION never comes. */
const UNENDED_HEADERS = Buffer.from([0, 0, 3, 1, 0, 0, 0, 0, 1, 0x82, 0x84, 0x87]);

/** Milliseconds until the server closes the socket; -1 when it has not within twice the bound (the test's own). */
function closedAfter(socket: net.Socket): Promise<number> {
  const started = Date.now();
  socket.on("error", () => undefined);
  // Read what comes (a 408, a GOAWAY): a paused socket would never see the server's end.
  socket.resume();
  return new Promise((resolve) => {
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve(-1);
    }, 2 * BOUND_MS);
    socket.once("close", () => {
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
  });
}

// On the TLS server (HTTP/2 and its HTTP/1.1 fallback), connections that never finish the TLS
// handshake, or finish it and then send nothing, no request or an unfinished h2 HEADERS block,
// were held with no time limit: enough of them fill the accepted-connection cap, and then no
// stream opens and /healthz answers nobody.
describe("idle TLS connections are closed within REQUEST_TIMEOUT_MS", { timeout: 30_000 }, () => {
  let certificate: SelfSignedCertificate;
  let gw: RunningGateway;
  let ca: Buffer;
  let port: number;
  before(async () => {
    certificate = makeSelfSignedCertificate();
    ca = readFileSync(certificate.certPath);
    gw = await startGateway({ REQUEST_TIMEOUT_MS: String(TIMEOUT_MS), TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw.stop();
    certificate.remove();
  });

  const secure = (alpn: string, then: (socket: tls.TLSSocket) => void = () => undefined) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: [alpn] });
    socket.once("secureConnect", () => then(socket));
    return socket;
  };
  const kinds: Record<string, () => net.Socket> = {
    "no TLS handshake": () => net.connect(port, "127.0.0.1"),
    "h2, nothing after the handshake": () => secure("h2"),
    "h2, the preface and no SETTINGS": () => secure("h2", (socket) => socket.write(PREFACE)),
    "h2, a session with no stream": () => secure("h2", (socket) => socket.write(Buffer.concat([PREFACE, EMPTY_SETTINGS]))),
    "h2, HEADERS never ended": () => secure("h2", (socket) => socket.write(Buffer.concat([PREFACE, EMPTY_SETTINGS, UNENDED_HEADERS]))),
    "HTTP/1.1 fallback, no request": () => secure("http/1.1"),
  };

  for (const [kind, connect] of Object.entries(kinds)) {
    it(`${kind}: ${PER_KIND} connections`, async () => {
      const times = await Promise.all(Array.from({ length: PER_KIND }, () => closedAfter(connect())));
      const held = times.filter((ms) => ms < 0 || ms > BOUND_MS).length;
      assert.equal(held, 0, `${held} of ${PER_KIND} held longer than ${BOUND_MS} ms (slowest ${Math.max(...times)} ms, -1: never)`);
    });
  }

  it("keeps an h2 session with an open stream, and an idle HTTP/1.1 fallback stream, past the timeout", async () => {
    const session = http2.connect(gw.url, { ca });
    session.on("error", () => undefined);
    const stream = session.request({ ":path": "/events", authorization: `Bearer ${await token({ sub: "idle-but-open" })}` });
    stream.on("data", () => undefined);
    const [headers] = (await new Promise((resolve) => stream.once("response", (h) => resolve([h])))) as [http2.IncomingHttpHeaders];
    assert.equal(headers[":status"], 200);
    const fallback = secure("http/1.1", async (socket) => socket.write(`GET /events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token({ sub: "idle-h1" })}\r\n\r\n`));
    let answer = "";
    fallback.setEncoding("utf8");
    fallback.on("data", (chunk: string) => (answer += chunk));
    const fallbackClosed = closedAfter(fallback);
    let sessionClosed = false;
    session.once("close", () => (sessionClosed = true));
    await new Promise((resolve) => setTimeout(resolve, BOUND_MS + 1000));
    assert.equal(sessionClosed, false, "the h2 session with a stream is still open");
    assert.match(answer, /^HTTP\/1\.1 200/);
    fallback.destroy();
    assert.equal(await fallbackClosed >= BOUND_MS, true, "the fallback stream stayed open");
    session.destroy();
  });
});
