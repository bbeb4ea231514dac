import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { comparePositions, parseEventId } from "../../src/events/event-id.ts";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("resume with Last-Event-ID", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ HISTORY_MAX_EVENTS: "5" });
  });
  after(() => gw.stop());

  it("replays what was missed, in order, without repeats, then goes live", async () => {
    const subscriber = await token({ sub: "frank", topics: ["news"] });
    const first = await connectSse(gw.url, { token: subscriber, topics: ["news"] });
    await publish(gw.url, { users: ["frank"], type: "n", data: 1 });
    const [seen] = await first.waitFor(1);
    first.close();
    await publish(gw.url, { users: ["frank"], type: "n", data: 2 });
    await publish(gw.url, { topics: ["news"], type: "n", data: 3 });
    await publish(gw.url, { users: ["someone-else"], type: "n", data: "not for frank" });
    await publish(gw.url, { users: ["frank"], topics: ["news"], type: "n", data: 4 });
    const resumed = await connectSse(gw.url, { token: subscriber, topics: ["news"], lastEventId: seen!.id });
    await publish(gw.url, { users: ["frank"], type: "n", data: 5 });
    const events = await resumed.waitFor(4);
    assert.deepEqual(events.map((event) => JSON.parse(event.data)), [2, 3, 4, 5]);
    const ids = events.map((event) => event.id!);
    assert.deepEqual([...ids].sort(), ids, "ids grow");
    resumed.close();
  });

  it("accepts the position as a query parameter too", async () => {
    const subscriber = await token({ sub: "gina" });
    const { body } = await publish(gw.url, { users: ["gina"], type: "n", data: 1 });
    await publish(gw.url, { users: ["gina"], type: "n", data: 2 });
    const response = await fetch(`${gw.url}/events?access_token=${subscriber}&lastEventId=${body.id}`);
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("data: 2")) text += new TextDecoder().decode((await reader.read()).value);
    assert.doesNotMatch(text, /data: 1\n/);
    await reader.cancel();
  });

  it("sends gateway.refetch when history no longer covers the gap", async () => {
    const subscriber = await token({ sub: "hank" });
    const { body } = await publish(gw.url, { users: ["hank"], type: "n", data: 0 });
    for (let i = 1; i <= 7; i++) await publish(gw.url, { users: ["hank"], type: "n", data: i });
    const resumed = await connectSse(gw.url, { token: subscriber, lastEventId: body.id });
    const [refetch] = await resumed.waitFor(1, (event) => event.event === "gateway.refetch");
    assert.deepEqual(JSON.parse(refetch!.data), { reason: "history-gap" });
    assert.ok(refetch!.id, "the refetch event carries the position to resume from");
    await publish(gw.url, { users: ["hank"], type: "n", data: "live" });
    const [live] = await resumed.waitFor(1, (event) => event.event === "n");
    assert.equal(JSON.parse(live!.data), "live");
    resumed.close();
  });

  it("starts the stream with gateway.refetch at the current id for a Last-Event-ID it cannot use, never 400", async () => {
    const user = await token({ sub: "ivy" });
    for (const unusable of ["garbage", "v1:abc", "1-2-3", "99999999999999999-1"]) {
      const { body: before } = await publish(gw.url, { users: ["ivy"], type: "n", data: `before ${unusable}` });
      const stream = await connectSse(gw.url, { token: user, lastEventId: unusable });
      assert.equal(stream.status, 200, unusable);
      const [refetch] = await stream.waitFor(1, (event) => event.event === "gateway.refetch");
      assert.equal(stream.events[0], refetch, "the refetch comes first");
      assert.deepEqual(JSON.parse(refetch!.data), { reason: "unusable-last-event-id" });
      assert.ok(comparePositions(parseEventId(refetch!.id!)!, parseEventId(before.id)!) >= 0, "it carries the current id");
      await publish(gw.url, { users: ["ivy"], type: "n", data: "after" });
      const [after] = await stream.waitFor(1, (event) => event.event === "n");
      assert.equal(JSON.parse(after!.data), "after", "nothing from before the refetch's id follows it");
      stream.close();
    }
  });

  it("does not let a position from the future silence the stream, and tells the client its state is not this history's", async () => {
    // An id ahead of everything this history issued comes from another data set (a Redis that lost
    // its data, another deployment): what the client holds cannot be caught up from here.
    const { body: current } = await publish(gw.url, { users: ["jack"], type: "n", data: "before" });
    const stream = await connectSse(gw.url, { token: await token({ sub: "jack" }), lastEventId: `${Date.now() + 3_600_000}-0` });
    const [refetch] = await stream.waitFor(1, (e) => e.event === "gateway.refetch");
    assert.deepEqual(JSON.parse(refetch!.data), { reason: "history-gap" });
    assert.equal(refetch!.id, current.id, "it carries the current id");
    await publish(gw.url, { users: ["jack"], type: "n", data: "now" });
    const [event] = await stream.waitFor(1, (e) => e.event === "n");
    assert.equal(JSON.parse(event!.data), "now");
    assert.deepEqual(stream.events.map((e) => e.event), ["gateway.refetch", "n"]);
    stream.close();
  });
});

describe("stream lifetime", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ HEARTBEAT_INTERVAL_MS: "1000", MAX_STREAM_BUFFER_BYTES: "65536", MAX_CONNECTIONS_PER_USER: "2", MAX_CONNECTIONS: "4" });
  });
  after(() => gw.stop());

  it("sends a comment heartbeat within the interval on a quiet stream", async () => {
    const stream = await connectSse(gw.url, { token: await token({ sub: "kim" }) });
    await sleep(1600);
    assert.match(stream.raw(), /\n:\n\n|^:\n\n/m);
    stream.close();
  });

  it("ends the stream when the token expires, saying why", async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const stream = await connectSse(gw.url, { token: await token({ sub: "leo" }, { exp }) });
    const [expired] = await stream.waitFor(1, (event) => event.event === "gateway.token-expired", 5000);
    assert.match(JSON.parse(expired!.data).reason, /expired/);
    await stream.ended;
    assert.ok(Date.now() / 1000 >= exp - 0.01);
  });

  it("drops a client that stops reading, and memory stays bounded", async () => {
    const slow = await connectSse(gw.url, { token: await token({ sub: "mia" }), paused: true });
    const payload = "x".repeat(30_000);
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 400 && gw.gateway.hub.stats.slowClientDisconnects === 0; i++) {
      await publish(gw.url, { users: ["mia"], type: "big", data: payload });
    }
    assert.equal(gw.gateway.hub.stats.slowClientDisconnects, 1);
    // The client reads nothing, so it cannot see the close yet; the server has let go of it.
    assert.equal(gw.gateway.hub.size, 0);
    slow.close();
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 64 * 1024 * 1024, `rss grew by ${grown} bytes`);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /sse_gateway_slow_client_disconnects_total 1/);
  });

  it("caps streams per user (429) and per instance (503) with Retry-After", async () => {
    const user = await token({ sub: "ned" });
    const open = [await connectSse(gw.url, { token: user }), await connectSse(gw.url, { token: user })];
    const third = await connectSse(gw.url, { token: user });
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers["retry-after"]) > 0);
    open.push(await connectSse(gw.url, { token: await token({ sub: "olga" }) }), await connectSse(gw.url, { token: await token({ sub: "pam" }) }));
    const fifth = await connectSse(gw.url, { token: await token({ sub: "quinn" }) });
    assert.equal(fifth.status, 503);
    assert.ok(Number(fifth.headers["retry-after"]) > 0);
    for (const stream of open) stream.close();
    await sleep(100);
    const again = await connectSse(gw.url, { token: user });
    assert.equal(again.status, 200, "closed streams free their slots");
    again.close();
  });
});

describe("stream opens per minute", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "3" });
  });
  after(() => gw.stop());

  it("answers 429 with Retry-After to a user who opens too many streams in a minute", async () => {
    const user = await token({ sub: "rita" });
    for (let i = 0; i < 3; i++) {
      const stream = await connectSse(gw.url, { token: user });
      assert.equal(stream.status, 200);
      stream.close();
    }
    const refused = await connectSse(gw.url, { token: user });
    assert.equal(refused.status, 429);
    assert.match(JSON.parse(await refused.body).message, /last minute/);
    const retryAfter = Number(refused.headers["retry-after"]);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const other = await connectSse(gw.url, { token: await token({ sub: "sam" }) });
    assert.equal(other.status, 200, "other users are not held back");
    other.close();
  });
});
