import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";

/** The id a client's EventSource would hold now: the last `id:` field it has parsed. */
function lastIdSeen(raw: string): string | undefined {
  const ids = [...raw.matchAll(/^id: ?(.*)$/gm)];
  return ids.at(-1)?.[1];
}

describe("a stream opened without Last-Event-ID", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it("is told its start position at once, so a cut before its first event loses nothing", async () => {
    const subscriber = await token({ sub: "quiet" });
    const first = await connectSse(gw.url, { token: subscriber });
    const start = await eventually(() => lastIdSeen(first.raw()), 3000, "the stream names its start position");
    assert.equal(first.events.length, 0, "an id-only block dispatches no event");
    first.close();

    // Published while the client is away, before it ever saw an event.
    assert.equal((await publish(gw.url, { users: ["quiet"], type: "missed", data: 1 })).status, 202);

    const again = await connectSse(gw.url, { token: subscriber, lastEventId: start });
    const [missed] = await again.waitFor(1, (event) => event.event === "missed");
    assert.equal(missed!.data, "1");
    assert.ok(!again.events.some((event) => event.event === "gateway.refetch"), "resuming from the start position needs no refetch");
    again.close();
  });

  it("a stream that resumes from an id is not told a position again before an event", async () => {
    const subscriber = await token({ sub: "resumer" });
    const seedId = await publishAndId(gw.url, "resumer");
    const stream = await connectSse(gw.url, { token: subscriber, lastEventId: seedId });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(lastIdSeen(stream.raw()), undefined, "nothing to tell: the client already holds its position");
    stream.close();
  });
});

async function publishAndId(url: string, user: string): Promise<string> {
  const answer = await publish(url, { users: [user], type: "seed", data: 0 });
  assert.equal(answer.status, 202);
  return (answer.body as { id: string }).id;
}
