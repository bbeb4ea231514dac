import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyBaseLogger } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { BusRejectedError, BusUnavailableError, IdempotencyConflictError, type BusListener, type HistoryPage } from "../../src/bus/event-bus.ts";
import { RedisBus } from "../../src/bus/redis-bus.ts";
import type { RetentionOptions } from "../../src/bus/retention.ts";
import { parseEventId, type EventPosition } from "../../src/events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../../src/events/event.ts";
import { keepRedisBusy } from "../support/redis-busy.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventually } from "../support/wait.ts";

const log = pino({ level: "silent" }) as unknown as FastifyBaseLogger;
const RETENTION: RetentionOptions = { maxEvents: 1000, maxAgeMs: 600_000, idempotencyWindowMs: 600_000 };

let redis: TestRedis;
let admin: Redis;
let prefixes = 0;
const open: RedisBus[] = [];

before(async () => {
  redis = await startTestRedis();
  admin = new Redis(redis.url);
});
after(async () => {
  await Promise.all(open.map((bus) => bus.close()));
  admin.disconnect();
  await redis.stop();
});

class Recorder implements BusListener {
  readonly events: GatewayEvent[] = [];
  resyncs = 0;
  deliver(event: GatewayEvent): void {
    this.events.push(event);
  }
  resync(): void {
    this.resyncs++;
  }
}

/** A bus on its own key prefix, attached to a recorder, once both its connections are ready. */
async function startBus(retention: Partial<RetentionOptions> = {}, prefix = `t${++prefixes}:`): Promise<{ bus: RedisBus; seen: Recorder; prefix: string }> {
  const bus = new RedisBus({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, { ...RETENTION, ...retention }, log);
  open.push(bus);
  const seen = new Recorder();
  bus.attach(seen);
  await eventually(() => bus.health().ready, 5000, "the bus to connect");
  return { bus, seen, prefix };
}

const draft = (channels: readonly string[], data: unknown = {}, extra: Partial<EventDraft> = {}): EventDraft => ({
  type: "note",
  dataJson: JSON.stringify(data),
  channels,
  ...extra,
});
const users = (count: number, tag = "u") => [...Array(count).keys()].map((n) => `u:${tag}${n}`);

async function info(section: string, field: string): Promise<number> {
  const text = await admin.info(section);
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(text);
  return Number(match?.[1] ?? 0);
}

/** Every key under a prefix with its serialised value: equal snapshots mean nothing was written. */
async function snapshot(prefix: string): Promise<Map<string, string>> {
  const keys = (await admin.keys(`${prefix}*`)).sort();
  const values = new Map<string, string>();
  for (const key of keys) values.set(key, ((await admin.dumpBuffer(key)) ?? Buffer.alloc(0)).toString("base64"));
  return values;
}

async function publishMany(bus: RedisBus, count: number, channels: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 200) {
    const batch = Math.min(200, count - start);
    const results = await Promise.all([...Array(batch).keys()].map((n) => bus.publish(draft(channels, { n: start + n }))));
    ids.push(...results.map((result) => result.id));
  }
  return ids;
}

const position = (id: string): EventPosition => parseEventId(id)!;

describe("Redis storage: each event stored once", { timeout: 60_000 }, () => {
  test("one 14 KB event to 1,000 users with history adds under 2 MB to Redis, and an instance watching them all receives it once, in about P + N x 100 bytes", async () => {
    const { bus: watcher, seen, prefix } = await startBus();
    // Same prefix: the publisher is another instance of the same gateway.
    const { bus } = await startBus({}, prefix);
    const recipients = users(1000);
    for (const channel of recipients) await watcher.watch(channel);
    await bus.publish(draft(recipients, { warm: true })); // every recipient has history already
    await eventually(() => seen.events.length === 1, 5000, "the warm-up event");

    const data = { blob: "x".repeat(14 * 1024) };
    const memoryBefore = await info("memory", "used_memory");
    const bytesBefore = await info("stats", "total_net_output_bytes");
    const { id } = await bus.publish(draft(recipients, data));
    await eventually(() => seen.events.length === 2, 5000, "the big event");
    const bytesSent = (await info("stats", "total_net_output_bytes")) - bytesBefore;
    const memoryAdded = (await info("memory", "used_memory")) - memoryBefore;

    const payload = JSON.stringify(data).length;
    assert.ok(memoryAdded < 2_000_000, `Redis memory added: ${memoryAdded} bytes`);
    assert.ok(bytesSent < payload + recipients.length * 100, `bytes Redis sent for the event: ${bytesSent}`);
    assert.equal(seen.events[1]!.id, id);
    assert.deepEqual(seen.events[1]!.channels, recipients);
    assert.equal(seen.events[1]!.dataJson, JSON.stringify(data));
  });

  test("live events reach an instance once each and in id order, whether they have one recipient or many", async () => {
    const { bus, seen, prefix } = await startBus();
    const { bus: other } = await startBus({}, prefix);
    for (const channel of ["u:a", "u:b", "t:news"]) await bus.watch(channel);
    const sent: string[] = [];
    for (let n = 0; n < 60; n++) {
      const channels = n % 3 === 0 ? ["u:a"] : n % 3 === 1 ? ["u:a", "u:b", "t:news", "u:zed"] : ["u:b"];
      sent.push((await (n % 2 ? bus : other).publish(draft(channels, { n }))).id);
    }
    await eventually(() => seen.events.length >= 60, 5000, "60 live events");
    await new Promise((resolve) => setTimeout(resolve, 100)); // room for a repeat to show up
    assert.deepEqual(
      seen.events.map((event) => event.id),
      sent,
    );
  });
});

describe("Redis storage: publish cannot half-apply", { timeout: 60_000 }, () => {
  test("lowering HISTORY_MAX_EVENTS from 10,000 to 1,000 on a channel holding 10,000 events keeps publishing and delivering", async () => {
    const { bus: before, prefix } = await startBus({ maxEvents: 10_000 });
    const ids = await publishMany(before, 10_000, ["t:busy"]);
    await before.close();
    const { bus, seen } = await startBus({ maxEvents: 1000 }, prefix);
    await bus.watch("t:busy");
    const later: string[] = [];
    for (let n = 0; n < 120; n++) later.push((await bus.publish(draft(["t:busy"], { later: n }))).id);
    await eventually(() => seen.events.length === 120, 5000, "the live events");
    assert.deepEqual(
      seen.events.map((event) => event.id),
      later,
    );
    const page = await bus.readPage(["t:busy"], position(later[0]!), { maxEvents: 500, maxBytes: 1 << 20 });
    assert.equal(page.complete, true);
    assert.deepEqual(
      page.events.map((event) => event.id),
      later.slice(1),
    );
    // Trimmed in bounded steps, it has come down to the new limit, and a reader behind the cut is told.
    assert.equal(await admin.xlen(`${prefix}ids:t:busy`), 1000);
    assert.equal((await bus.readPage(["t:busy"], position(ids[100]!), { maxEvents: 10, maxBytes: 1 << 20 })).complete, false);
  });

  test("each error a publish can meet is found before anything is written: permanent ones reject, transient ones are unavailable", async () => {
    const { bus, prefix } = await startBus();
    await bus.publish(draft(["u:ok", "t:ok"], { n: 0 }, { idempotencyKey: "k0", fingerprint: "f0" }));
    const cases: { what: string; arrange: () => Promise<unknown>; undo: () => Promise<unknown>; expected: new (...args: never[]) => Error; channels?: string[] }[] = [
      { what: "a recipient's history of the wrong type", arrange: () => admin.set(`${prefix}ids:u:bad`, "x"), undo: () => admin.del(`${prefix}ids:u:bad`), expected: BusRejectedError },
      { what: "a trim point of the wrong type", arrange: () => admin.rpush(`${prefix}trimmed:u:bad`, "x"), undo: () => admin.del(`${prefix}trimmed:u:bad`), expected: BusRejectedError },
      { what: "the global log of the wrong type", arrange: () => admin.rename(`${prefix}ids:*`, `${prefix}kept`).then(() => admin.hset(`${prefix}ids:*`, "a", "b")), undo: () => admin.del(`${prefix}ids:*`).then(() => admin.rename(`${prefix}kept`, `${prefix}ids:*`)), expected: BusRejectedError },
      { what: "a last id that is not an id", arrange: () => admin.rename(`${prefix}last-id`, `${prefix}kept`).then(() => admin.set(`${prefix}last-id`, "garbage")), undo: () => admin.rename(`${prefix}kept`, `${prefix}last-id`), expected: BusRejectedError },
      { what: "a history ahead of the last id", arrange: () => admin.xadd(`${prefix}ids:u:bad`, "99999999999999-0", "v", ""), undo: () => admin.del(`${prefix}ids:u:bad`), expected: BusRejectedError },
      { what: "an idempotency key of the wrong type", arrange: () => admin.sadd(`${prefix}idem:k1`, "x"), undo: () => admin.del(`${prefix}idem:k1`), expected: BusRejectedError },
      { what: "Redis out of memory", arrange: () => admin.config("SET", "maxmemory", "1"), undo: () => admin.config("SET", "maxmemory", "0"), expected: BusUnavailableError },
    ];
    for (const { what, arrange, undo, expected } of cases) {
      await arrange();
      const before = await snapshot(prefix);
      await assert.rejects(bus.publish(draft(["u:ok", "u:bad", "t:ok"], { what }, { idempotencyKey: "k1", fingerprint: "f1" })), expected, what);
      assert.deepEqual(await snapshot(prefix), before, `${what}: nothing written`);
      await undo();
    }
    // Everything undone, the same publish goes through once.
    const accepted = await bus.publish(draft(["u:ok", "u:bad", "t:ok"], { what: "fine" }, { idempotencyKey: "k1", fingerprint: "f1" }));
    assert.equal(accepted.duplicate, false);
    assert.deepEqual(await bus.publish(draft(["u:ok", "u:bad", "t:ok"], { what: "fine" }, { idempotencyKey: "k1", fingerprint: "f1" })), { id: accepted.id, duplicate: true });
  });

  test("a busy Redis (a long script) is transient: the publish is unavailable, then goes through", async () => {
    const { bus } = await startBus();
    const busy = await keepRedisBusy(redis.url, 1000);
    try {
      await assert.rejects(bus.publish(draft(["u:busy"])), BusUnavailableError);
    } finally {
      await busy.finished();
    }
    assert.equal((await bus.publish(draft(["u:busy"]))).duplicate, false);
  });

  test("the same idempotency key with another fingerprint is a conflict naming the first event", async () => {
    const { bus } = await startBus();
    const start = await bus.head();
    const first = await bus.publish(draft(["u:idem"], { n: 1 }, { idempotencyKey: "pub:evt-1", fingerprint: "aaa" }));
    assert.deepEqual(await bus.publish(draft(["u:idem"], { n: 1 }, { idempotencyKey: "pub:evt-1", fingerprint: "aaa" })), { id: first.id, duplicate: true });
    const conflict = await bus.publish(draft(["u:idem"], { n: 2 }, { idempotencyKey: "pub:evt-1", fingerprint: "bbb" })).catch((error: unknown) => error);
    assert.ok(conflict instanceof IdempotencyConflictError);
    assert.equal(conflict.existingId, first.id);
    const page = await bus.readPage(["u:idem"], start, { maxEvents: 10, maxBytes: 1 << 20 });
    assert.deepEqual(
      page.events.map((event) => event.id),
      [first.id],
    );
  });
});

describe("Redis storage: the read path", { timeout: 60_000 }, () => {
  test("a history read writes nothing, even where history has aged out, and never builds stream entries with XINFO", async () => {
    const { bus } = await startBus({ maxAgeMs: 300 });
    const channels = users(21, "r");
    const start = await bus.head();
    const old = await bus.publish(draft(channels, { blob: "y".repeat(60_000) }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const recent = await bus.publish(draft(channels, { n: 2 }));
    await new Promise((resolve) => setTimeout(resolve, 150)); // the first event is past the age limit, its history is not
    await admin.config("RESETSTAT");
    const changes = await info("persistence", "rdb_changes_since_last_save");
    const page = await bus.readPage(channels, position(old.id), { maxEvents: 10, maxBytes: 1 << 20 });
    const behind = await bus.readPage(channels, start, { maxEvents: 10, maxBytes: 1 << 20 });
    assert.equal(page.complete, true);
    assert.deepEqual(
      page.events.map((event) => event.id),
      [recent.id],
    );
    assert.equal(behind.complete, false, "the aged-out event is a gap for a reader behind it");
    assert.equal(await info("persistence", "rdb_changes_since_last_save"), changes);
    assert.doesNotMatch(await admin.info("commandstats"), /cmdstat_xinfo/);
  });

  test("a page is bounded by events and by bytes, merged by id across channels, and says when more follow", async () => {
    const { bus } = await startBus();
    const start = await bus.head();
    const ids: string[] = [];
    for (let n = 0; n < 30; n++) ids.push((await bus.publish(draft(n % 2 ? ["u:p1", "t:p"] : n % 3 ? ["u:p2"] : ["t:p", "u:p2"], { n, pad: "z".repeat(10_000) }))).id);
    const read = (after: EventPosition, maxEvents: number, maxBytes: number): Promise<HistoryPage> => bus.readPage(["u:p1", "u:p2", "t:p"], after, { maxEvents, maxBytes });
    const byCount = await read(start, 7, 1 << 20);
    assert.deepEqual(
      byCount.events.map((event) => event.id),
      ids.slice(0, 7),
    );
    assert.equal(byCount.more, true);
    const byBytes = await read(start, 100, 25_000);
    assert.equal(byBytes.events.length, 2, "two 10 KB events fit in 25 KB, a third does not");
    assert.equal(byBytes.more, true);
    const oneLarge = await read(start, 100, 10);
    assert.equal(oneLarge.events.length, 1, "a page holds at least one event");
    // Page after page, every event once, in order.
    const all: string[] = [];
    let after = start;
    for (let page = await read(after, 4, 1 << 20); ; page = await read(after, 4, 1 << 20)) {
      assert.equal(page.complete, true);
      all.push(...page.events.map((event) => event.id));
      if (!page.more) break;
      after = page.events.at(-1)!;
    }
    assert.deepEqual(all, ids);
    const last = await read(position(ids.at(-1)!), 10, 1 << 20);
    assert.deepEqual([last.events.length, last.more, last.complete], [0, false, true]);
  });
});
