import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { publisherToken, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { collectGarbage as gc, openFileCount as openFds } from "../support/process-resources.ts";
import { eventually } from "../support/wait.ts";

const STRUCTURED = 1600;
const MUTATED = 1600;
const PARALLEL = 48;

interface RawAnswer {
  /** The status of the first response, or undefined when the server closed without one. */
  readonly status: number | undefined;
}

/** Sends bytes over a fresh loopback connection; reads the first status line, then hangs up. */
function rawRequest(port: number, bytes: Buffer): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = "";
    let settled = false;
    const finish = (status: number | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status });
    };
    // The gateway cuts what does not arrive whole within REQUEST_TIMEOUT_MS (0.3 s here).
    const timer = setTimeout(() => finish(undefined), 4000);
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(statusOf(head)));
    socket.on("data", (chunk) => {
      head += chunk.toString("latin1");
      const status = statusOf(head);
      if (status !== undefined) finish(status);
    });
    // No half-close: a client that sends FIN has given up on its answer, as Node treats it.
    socket.once("connect", () => socket.write(bytes));
  });
}

function statusOf(head: string): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  return match ? Number(match[1]) : undefined;
}

function httpRequest(method: string, path: string, headers: Record<string, string>, body = ""): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  if (body !== "" || method === "POST") lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

/** One byte-level mutation of a valid request: flip, insert, delete, repeat a slice, or truncate. */
function mutate(bytes: Buffer, random: () => number): Buffer {
  const at = Math.floor(random() * bytes.length);
  switch (Math.floor(random() * 5)) {
    case 0:
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), bytes.subarray(at + 1)]);
    case 1:
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), bytes.subarray(at)]);
    case 2:
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    case 3: {
      const length = Math.floor(random() * 64);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + length), bytes.subarray(at)]);
    }
    default:
      return bytes.subarray(0, at);
  }
}

/** A seeded generator, so that a failing run can be replayed with its seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

const weirdText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "gateway.x", " GATEWAY.x", "\u0000", "\ud800", "a\r\nb", "%00", "__proto__", "constructor", "*", "user:*", "u".repeat(300)),
);
const publishBody = fc.record(
  {
    users: fc.array(weirdText, { maxLength: 4 }),
    topics: fc.array(weirdText, { maxLength: 4 }),
    type: weirdText,
    data: fc.jsonValue({ maxDepth: 6 }),
    id: weirdText,
    extra: fc.anything({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

// The abuse suite's fuzz: structured and byte-mutated requests against /publish and /events.
describe("fuzz of /publish and /events", () => {
  let gw: RunningGateway;
  let port: number;
  let baseline: { fds: number; rss: number };
  const statuses = new Map<number | "none", number>();
  const count = (status: number | undefined) => statuses.set(status ?? "none", (statuses.get(status ?? "none") ?? 0) + 1);

  before(async () => {
    gw = await startGateway({
      REQUEST_TIMEOUT_MS: "300",
      MAX_CONNECTIONS_PER_USER: "100000",
      MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "100000",
      MAX_EVENT_BYTES: "16384",
    });
    port = Number(new URL(gw.url).port);
    gc();
    baseline = { fds: openFds(), rss: process.memoryUsage().rss };
  });
  after(() => gw.stop());

  it(`${STRUCTURED} structured requests: never a 5xx`, async () => {
    const publisher = await publisherToken();
    const subscriber = await token({ sub: "fuzz", topics: ["*"] });
    const publishes = fc.sample(publishBody, STRUCTURED / 2);
    const queries = fc.sample(fc.record({ topic: fc.array(weirdText, { maxLength: 3 }), lastEventId: weirdText, access_token: fc.oneof(fc.constant(subscriber), weirdText) }), STRUCTURED / 2);
    await inParallel(publishes, async (body) => {
      const { status } = await rawRequest(port, httpRequest("POST", "/publish", { authorization: `Bearer ${publisher}`, "content-type": "application/json" }, JSON.stringify(body)));
      count(status);
      assert.ok(status !== undefined && status < 500, `${status} for ${JSON.stringify(body)}`);
    });
    await inParallel(queries, async (query) => {
      const search = new URLSearchParams();
      for (const topic of query.topic) search.append("topic", topic);
      search.set("lastEventId", query.lastEventId);
      search.set("access_token", query.access_token);
      const { status } = await rawRequest(port, httpRequest("GET", `/events?${search}`, {}));
      count(status);
      assert.ok(status !== undefined && status < 500, `${status} for ${search}`);
    });
  });

  it(`${MUTATED} byte-mutated requests: never a 5xx, the process alive`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const random = seeded(seed);
    const publisher = await publisherToken();
    const subscriber = await token({ sub: "fuzz", topics: ["*"] });
    const templates = [
      httpRequest("POST", "/publish", { authorization: `Bearer ${publisher}`, "content-type": "application/json" }, '{"users":["a","b"],"topics":["news"],"type":"t","data":{"k":[1,"x",null]},"id":"k-1"}'),
      httpRequest("POST", "/publish", { "content-type": "application/json" }, '{"users":["a"],"type":"t"}'),
      httpRequest("GET", `/events?topic=news&topic=a.b&access_token=${subscriber}`, {}),
      httpRequest("GET", "/events", { authorization: `Bearer ${subscriber}`, "last-event-id": "1795765078267-0" }),
      httpRequest("GET", "/events", { cookie: `access_token=${subscriber}`, origin: "https://elsewhere.example" }),
      httpRequest("HEAD", `/events?access_token=${subscriber}`, {}),
    ];
    const requests = Array.from({ length: MUTATED }, (_, i) => {
      let bytes = templates[i % templates.length]!;
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) bytes = mutate(bytes, random);
      return bytes;
    });
    await inParallel(requests, async (bytes) => {
      const { status } = await rawRequest(port, bytes);
      count(status);
      assert.ok(status === undefined || status < 500, `${status} (FUZZ_SEED=${seed}) for ${JSON.stringify(bytes.toString("latin1"))}`);
    });
    assert.equal((await fetch(`${gw.url}/healthz`)).status, 200);
  });

  it("gives back its descriptors and memory, and holds no stream", async () => {
    const total = [...statuses.values()].reduce((sum, n) => sum + n, 0);
    assert.ok(total >= 3000, `${total} requests`);
    await eventually(() => gw.gateway.hub.size === 0, 5000, "every fuzzed stream to be gone");
    await eventually(() => openFds() <= baseline.fds + 10, 5000, `open descriptors back near ${baseline.fds} (now ${openFds()})`);
    gc();
    const grownMb = (process.memoryUsage().rss - baseline.rss) / 2 ** 20;
    assert.ok(grownMb < 150, `RSS grew by ${grownMb.toFixed(0)} MiB`);
    // What was answered, for the log of the run.
    console.log("statuses", JSON.stringify(Object.fromEntries(statuses)));
  });
});
