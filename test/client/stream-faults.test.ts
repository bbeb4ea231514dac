import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { createParser } from "eventsource-parser";
import { openStream, type Status, type StreamEvent } from "../../client/src/stream.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";

/**
 * The client's stream (client/src/stream.ts runs in Node as in a browser: fetch, TextDecoder)
 * against a real gateway through a front that refuses or cuts on command, for any sequence of
 * faults; and its SSE reading against the WHATWG parser for any way the bytes are split.
 * Math.random is 0 while these run, so backoff waits nothing and each case takes milliseconds;
 * the waits themselves are what the browser tests measure.
 */

type Fault = "cut" | 401 | 429 | 503 | 500 | "reset" | "not-sse" | "stall";

interface FaultFront {
  readonly url: string;
  /** What the next GET /events get, in order (then they pass). */
  readonly queue: Exclude<Fault, "cut">[];
  /** Streams currently passed through. */
  readonly open: Set<http.ServerResponse>;
  answered: number;
  close(): Promise<void>;
}

async function startFaultFront(gatewayUrl: string): Promise<FaultFront> {
  const front = { queue: [] as Exclude<Fault, "cut">[], open: new Set<http.ServerResponse>(), answered: 0 };
  const server = http.createServer((request, response) => {
    front.answered++;
    const fault = front.queue.shift();
    if (fault === "reset") return void request.socket.destroy();
    if (fault === "not-sse") return void response.writeHead(200, { "content-type": "text/html" }).end("<p>a login page</p>");
    // A connection that stays up and carries nothing more, as one through a dead NAT entry does.
    if (fault === "stall") return void response.writeHead(200, { "content-type": "text/event-stream" }).write("retry: 1000\n\n");
    if (typeof fault === "number") return void response.writeHead(fault, { "retry-after": "0" }).end("{}");
    const upstream = http.request(new URL(request.url!, gatewayUrl), { headers: request.headers }, (incoming) => {
      response.writeHead(incoming.statusCode!, incoming.headers);
      response.flushHeaders();
      incoming.pipe(response);
      front.open.add(response);
      response.once("close", () => {
        front.open.delete(response);
        upstream.destroy();
      });
    });
    upstream.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(front, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

describe("the client's stream under faults", () => {
  let gateway: RunningGateway;
  let front: FaultFront;
  const random = Math.random;

  before(async () => {
    // Heartbeats every second, so that a live stream is never silent for the idle timeout below.
    gateway = await startGateway({ HEARTBEAT_INTERVAL_MS: "1000" });
    front = await startFaultFront(gateway.url);
    Math.random = () => 0;
  });

  after(async () => {
    Math.random = random;
    await front?.close();
    await gateway?.stop();
  });

  test("any sequence of cuts and refusals: every event once, in order, and a fresh token after each 401", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom<Fault>("cut", 401, 429, 503, 500, "reset", "not-sse"), { minLength: 1, maxLength: 6 }), async (faults) => {
        const user = `fault-${run++}`;
        await eventually(() => front.open.size === 0, 5000, "the previous case's stream gone");
        const received: StreamEvent[] = [];
        const statuses: Status[] = [];
        let tokens = 0;
        const stop = openStream(
          { url: `${front.url}/events`, topics: [], lastEventId: "", token: () => (tokens++, token({ sub: user })) },
          { event: (event) => received.push(event), status: (status) => statuses.push(status) },
        );
        try {
          await eventually(() => front.open.size === 1, 5000, "the stream open");
          const published: string[] = [];
          const missing = () => `published ${published.join(" ")}; received ${received.map((event) => event.id).join(" ")}`;
          const publishSome = async (count: number) => {
            for (let n = 0; n < count; n++) published.push((await publish(gateway.url, { users: [user], type: "t", data: { n } })).body.id);
          };
          for (const fault of faults) {
            await publishSome(2);
            const tokensBefore = tokens;
            if (fault !== "cut") front.queue.push(fault);
            for (const response of front.open) response.destroy();
            await publishSome(1);
            await eventually(() => front.open.size === 1 && front.queue.length === 0, 5000, `the stream back after ${fault}`);
            if (fault === 401) assert.ok(tokens > tokensBefore, "a fresh token after 401");
          }
          await publishSome(2);
          await eventually(() => received.length >= published.length, 5000, `all ${published.length} events`).catch((error: Error) => {
            throw new Error(`${error.message}: ${missing()}`);
          });
          assert.deepEqual(received.map((event) => event.id), published);
          assert.equal(statuses.filter((status) => status === "open").length, faults.length + 1, "opened once per connection that passed");
          assert.ok(!statuses.includes("closed"));
        } finally {
          stop();
        }
      }),
      { numRuns: 12 },
    );
  });

  test("a stream silent past idleTimeoutMs is taken for dead: the client reopens it from its last id and loses nothing", async () => {
    const received: StreamEvent[] = [];
    let opens = 0;
    await eventually(() => front.open.size === 0, 5000, "the earlier tests' streams gone");
    const stop = openStream(
      { url: `${front.url}/events`, topics: [], lastEventId: "", token: () => token({ sub: "quiet" }), idleTimeoutMs: 2500 },
      { event: (event) => received.push(event), status: (status) => (opens += Number(status === "open")) },
    );
    try {
      await eventually(() => opens === 1, 5000, "the stream open");
      const first = (await publish(gateway.url, { users: ["quiet"], type: "t" })).body.id;
      await eventually(() => received.length === 1, 5000, "the first event");
      front.queue.push("stall");
      for (const response of front.open) response.destroy();
      await eventually(() => front.queue.length === 0, 5000, "the stalled connection taken");
      const second = (await publish(gateway.url, { users: ["quiet"], type: "t" })).body.id;
      await eventually(() => received.length >= 2, 5000, "the event through a reopened stream");
      assert.deepEqual(received.map((event) => event.id), [first, second]);
      assert.equal(opens, 3, "the first stream, the stalled one (a 200 like any other), the reopened one");
    } finally {
      stop();
    }
  });

  test("a permanent refusal (403) ends in closed without retrying", async () => {
    const before = front.answered;
    const statuses: [Status, string | undefined][] = [];
    const stop = openStream(
      { url: `${front.url}/events`, topics: ["forbidden"], lastEventId: "", token: () => token({ sub: "limited", topics: ["news"] }) },
      { event: () => {}, status: (status, reason) => statuses.push([status, reason]) },
    );
    await eventually(() => statuses.at(-1)?.[0] === "closed", 5000, "closed");
    stop();
    assert.deepEqual(statuses.at(-1), ["closed", 'the gateway answered 403: the token\'s `topics` claim does not allow the topic "forbidden"']);
    assert.equal(front.answered - before, 1);
  });

  test("a stored last id the gateway cannot read: the stream starts at the head with gateway.refetch, and goes on", async () => {
    const received: StreamEvent[] = [];
    const stop = openStream(
      { url: `${front.url}/events`, topics: [], lastEventId: "not-an-id", token: () => token({ sub: "odd" }) },
      { event: (event) => received.push(event), status: () => {} },
    );
    try {
      await eventually(() => front.open.size === 1, 5000, "the stream open");
      const id = (await publish(gateway.url, { users: ["odd"], type: "t" })).body.id;
      await eventually(() => received.length === 2, 5000, "two events");
      assert.deepEqual(received.map((event) => event.type), ["gateway.refetch", "t"]);
      assert.equal(received[1]!.id, id);
    } finally {
      stop();
    }
  });
});

describe("the client's SSE reading", () => {
  let server: http.Server;
  let url: string;
  let body: { chunks: Buffer[] } = { chunks: [] };

  before(async () => {
    server = http.createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      const chunks = [...body.chunks];
      const next = () => (chunks.length ? response.write(chunks.shift(), () => setImmediate(next)) : response.end());
      next();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const line = fc.string({ unit: fc.constantFrom("a", "é", "€", "😀", ":", " ", "{", "}", "\"", "1"), maxLength: 12 });
  const field = fc.oneof(
    line.map((text) => `data: ${text}`),
    line.map((text) => `data:${text}`),
    fc.constantFrom("data", "event: note.added", "event:gateway.refetch", "id: 1-0", "id: 17-3", "retry: 10", ": heartbeat", "unknown: x"),
  );
  const eventBlock = fc.array(field, { minLength: 1, maxLength: 4 });
  const stream = fc.tuple(fc.array(eventBlock, { minLength: 1, maxLength: 8 }), fc.constantFrom("\n", "\r\n"));

  test("the same events as the WHATWG parser (eventsource-parser), however the bytes are split", async () => {
    await fc.assert(
      fc.asyncProperty(stream, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 30 }), async ([blocks, newline], cuts) => {
        const text = blocks.map((block) => block.join(newline) + newline + newline).join("");
        const expected: [string, unknown, string][] = [];
        let lastId = "";
        const parser = createParser({
          onEvent: (message) => {
            if (message.id !== undefined) lastId = message.id;
            expected.push([message.event ?? "message", parsedOrText(message.data), message.id === undefined ? "" : lastId]);
          },
        });
        parser.feed(text);
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let at = 0, n = 0; at < bytes.length; at += cuts[n++ % cuts.length]!) chunks.push(bytes.subarray(at, at + cuts[n % cuts.length]!));
        body = { chunks };
        const received: [string, unknown, string][] = [];
        let ended = false;
        // Stopped as soon as the body has ended, before it would reconnect and read it again.
        const stop: () => void = openStream(
          { url, topics: [], lastEventId: "" },
          {
            event: (event) => received.push([event.type, event.data, event.id]),
            status: (status) => status === "reconnecting" && ((ended = true), stop()),
          },
        );
        await eventually(() => ended, 5000, "the body read to its end");
        assert.deepEqual(received, expected);
      }),
      { numRuns: 60 },
    );
  });
});

/** The client hands handlers parsed JSON, or the text when the data is not JSON. */
function parsedOrText(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

describe("the client's stream against odd answers from the front", () => {
  let server: http.Server;
  let url: string;
  /** What the next GET /events gets; the Authorization header of each one is kept. */
  let answer: (response: http.ServerResponse) => void = (response) => void response.writeHead(503).end();
  const authorizations: (string | undefined)[] = [];
  const random = Math.random;

  before(async () => {
    server = http.createServer((request, response) => {
      authorizations.push(request.headers.authorization);
      answer(response);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
    // Backoff waits nothing: what paces the client below is the Retry-After alone.
    Math.random = () => 0;
  });

  after(async () => {
    Math.random = random;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  for (const retryAfter of ["99999999999", "Infinity", "Fri, 31 Dec 9999 23:59:59 GMT"]) {
    test(`a Retry-After too large for a timer (${retryAfter}) is a long wait, not a reconnect loop`, async () => {
      authorizations.length = 0;
      answer = (response) => void response.writeHead(503, { "retry-after": retryAfter }).end("{}");
      const statuses: Status[] = [];
      const stop = openStream({ url, topics: [], lastEventId: "" }, { event: () => {}, status: (status) => statuses.push(status) });
      try {
        await eventually(() => statuses.includes("reconnecting"), 5000, "the first 503 taken");
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(authorizations.length, 1, `${authorizations.length} requests in half a second`);
      } finally {
        stop();
      }
    });
  }

  test("a token call that once returns something no header can carry is called again, not reused for ever", async () => {
    authorizations.length = 0;
    answer = (response) => void response.writeHead(200, { "content-type": "text/event-stream" }).write(": hello\n\n");
    const tokens = ["line\nbreak", "naïve", "good-token"];
    let calls = 0;
    const statuses: Status[] = [];
    const stop = openStream(
      { url, topics: [], lastEventId: "", token: async () => tokens[Math.min(calls++, tokens.length - 1)]! },
      { event: () => {}, status: (status) => statuses.push(status) },
    );
    try {
      await eventually(() => statuses.includes("open"), 5000, "the stream open with the good token");
      assert.deepEqual(authorizations, ["Bearer good-token"]);
    } finally {
      stop();
    }
  });
});
