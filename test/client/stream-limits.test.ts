import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { openStream, type Status } from "../../client/src/stream.ts";
import { eventually } from "../support/wait.ts";

/**
 * What the client's stream holds while it reads: a body that never ends its line or its event
 * (a proxy's endless page sent as text/event-stream, a broken front) must not grow the page's
 * memory without bound. The gateway's largest event (MAX_EVENT_BYTES, at most 16 MiB) fits well.
 */

const MIB = 1024 * 1024;
const SENT_MIB = 72;

describe("the client's stream against a body without end", () => {
  let server: http.Server;
  let url: string;
  let body: (mib: number) => string;
  let written = 0;
  let cut = false;

  before(async () => {
    server = http.createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      written = 0;
      cut = false;
      response.once("close", () => (cut = written < SENT_MIB));
      const next = () => {
        if (response.destroyed || written >= SENT_MIB) return;
        response.write(body(written++), () => setImmediate(next));
      };
      next();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const endless = {
    "one line that never ends": (mib: number) => (mib === 0 ? "data: " : "") + "x".repeat(MIB),
    "data lines of an event that never ends": () => `data: ${"x".repeat(1023)}\n`.repeat(1024),
  };
  for (const [what, write] of Object.entries(endless)) {
    test(`${what}: the client drops the connection before ${SENT_MIB} MiB, and reconnects`, async () => {
      body = write;
      const statuses: Status[] = [];
      const stop = openStream({ url, topics: [], lastEventId: "" }, { event: () => {}, status: (status) => statuses.push(status) });
      try {
        await eventually(() => statuses.includes("reconnecting") || written >= SENT_MIB, 30_000, "the connection dropped or the body sent");
        assert.ok(statuses.includes("reconnecting"), `the client read all ${SENT_MIB} MiB of one event`);
        await eventually(() => cut, 5000, "the connection closed by the client");
      } finally {
        stop();
      }
    });
  }
});
