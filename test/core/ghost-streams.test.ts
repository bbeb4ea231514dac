import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { makeSelfSignedCertificate } from "../support/tls.ts";
import { eventually } from "../support/wait.ts";

/** Clients per run, in waves of this many at once (the machine's open-file limit is 20k). */
const CLIENTS = 2000;
const WAVE = 250;
const LIMITS = { MAX_CONNECTIONS: "100000", MAX_CONNECTIONS_PER_USER: "1", MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "100000" };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How a client leaves: a TCP reset or a close, at once or a few ms after its request. (A FIN
 * alone is not leaving: a half-closed client can still read its stream.)
 */
function leave(socket: net.Socket, pick: number): void {
  const go = () => (pick % 2 === 0 ? socket.resetAndDestroy() : socket.destroy());
  const delayMs = Math.floor(pick / 2) % 6;
  if (delayMs === 0) go();
  else setTimeout(go, delayMs);
}

/** GET /events over a raw socket that leaves before (or just as) the answer comes. */
function ghostHttp1(url: URL, bearer: string, pick: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET /events HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${bearer}\r\n\r\n`);
      leave(socket, pick);
    });
    socket.on("error", () => undefined);
    socket.once("close", () => resolve());
  });
}

async function inWaves(count: number, run: (index: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += WAVE) {
    await Promise.all(Array.from({ length: Math.min(WAVE, count - start) }, (_, i) => run(start + i)));
  }
}

async function assertNoGhosts(gw: RunningGateway, user: string, bearer: () => Promise<string>): Promise<void> {
  await sleep(200);
  await eventually(() => gw.gateway.hub.size === 0, 5000, `0 registered streams (have ${gw.gateway.hub.size})`);
  // MAX_CONNECTIONS_PER_USER is 1: a ghost of this user would make this a 429.
  const status = gw.url.startsWith("https:") ? await http2Status(gw.url, await bearer()) : await http1Status(gw.url, await bearer());
  assert.equal(status, 200, `${user} can open a stream at once`);
}

async function http1Status(url: string, bearer: string): Promise<number> {
  const stream = await connectSse(url, { token: bearer });
  stream.close();
  return stream.status;
}

function http2Status(url: string, bearer: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { rejectUnauthorized: false });
    session.once("error", reject);
    const request = session.request({ ":path": "/events", authorization: `Bearer ${bearer}` });
    request.once("response", (headers) => {
      session.destroy();
      resolve(Number(headers[":status"]));
    });
    request.once("error", reject);
  });
}

describe("clients that leave while their token is checked leave no stream behind", { timeout: 120_000 }, () => {
  it("HTTP/1.1: thousands of resets and closes at random moments", async () => {
    const gw = await startGateway(LIMITS);
    try {
      const url = new URL(gw.url);
      // A token each (a jti of its own), so that no verification is answered from the cache.
      const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => token({ sub: `ghost-${i}`, jti: `j${i}` })));
      await inWaves(CLIENTS, (i) => ghostHttp1(url, tokens[i]!, i * 7919));
      await assertNoGhosts(gw, "ghost-0", () => token({ sub: "ghost-0", jti: "again" }));
    } finally {
      await gw.stop();
    }
  });

  describe("with a JWKS that answers slowly", () => {
    let keyServer: http.Server;
    let jwksEnv: Record<string, string>;
    let sign: (sub: string, jti: string) => Promise<string>;
    before(async () => {
      const pair = await generateKeyPair("ES256");
      const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
      keyServer = http.createServer((_request, response) => {
        setTimeout(() => response.setHeader("content-type", "application/json").end(jwks), 400);
      });
      await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
      const { port } = keyServer.address() as AddressInfo;
      jwksEnv = { JWT_SECRET: "", JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, JWT_ISSUER: "https://id.example", JWT_AUDIENCE: "sse" };
      sign = (sub, jti) =>
        new SignJWT({ sub, jti }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer("https://id.example").setAudience("sse").setExpirationTime("5m").sign(pair.privateKey);
    });
    after(() => keyServer.close());

    it("HTTP/1.1: every client waits on the key fetch and leaves meanwhile or just after", async () => {
      const gw = await startGateway({ ...LIMITS, ...jwksEnv });
      try {
        const url = new URL(gw.url);
        const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => sign(`slow-${i}`, `j${i}`)));
        await Promise.all(
          tokens.map(
            (bearer, i) =>
              new Promise<void>((resolve) => {
                const socket = net.connect(Number(url.port), url.hostname, () => {
                  socket.write(`GET /events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${bearer}\r\n\r\n`);
                  // Within the 400 ms the key set takes to arrive, or just after it.
                  setTimeout(() => (i % 2 ? socket.resetAndDestroy() : socket.destroy()), (i * 37) % 450);
                });
                socket.on("error", () => undefined);
                socket.once("close", () => resolve());
              }),
          ),
        );
        await assertNoGhosts(gw, "slow-0", () => sign("slow-0", "again"));
      } finally {
        await gw.stop();
      }
    });

    it("HTTP/2: streams cancelled (RST_STREAM) and sessions dropped while the key set is fetched", async () => {
      const certificate = makeSelfSignedCertificate();
      const gw = await startGateway({ ...LIMITS, ...jwksEnv, TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath });
      try {
        const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => sign(`h2-slow-${i}`, `j${i}`)));
        const sessions = 20;
        await Promise.all(
          Array.from({ length: sessions }, async (_, s) => {
            const session = http2.connect(gw.url, { rejectUnauthorized: false });
            session.on("error", () => undefined);
            const requests: Promise<void>[] = [];
            for (let i = s; i < tokens.length; i += sessions) {
              const request = session.request({ ":path": "/events", authorization: `Bearer ${tokens[i]!}` });
              request.on("error", () => undefined);
              request.resume();
              requests.push(new Promise<void>((resolve) => request.once("close", () => resolve())));
              setTimeout(() => request.close(http2.constants.NGHTTP2_CANCEL), (i * 37) % 450);
            }
            // A quarter of the sessions are dropped whole (the TCP connection goes).
            if (s % 4 === 0) setTimeout(() => session.destroy(), 200 + s * 10);
            await Promise.all(requests);
            session.destroy();
          }),
        );
        await assertNoGhosts(gw, "h2-slow-0", () => sign("h2-slow-0", "again"));
      } finally {
        await gw.stop();
        certificate.remove();
      }
    });
  });
});
