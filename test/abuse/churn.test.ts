import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { collectGarbage as gc, openFileCount as openFds } from "../support/process-resources.ts";
import { connectSse } from "../support/sse-client.ts";
import { eventually } from "../support/wait.ts";

const CYCLES = 20_000;
const PARALLEL = 64;
const USERS = 50;

type Moment = "before-headers-end" | "mid-verification" | "after-first-bytes";
const MOMENTS: readonly Moment[] = ["before-headers-end", "mid-verification", "after-first-bytes"];

/** One stream open over a fresh loopback connection, hung up at the given moment. */
function cycle(port: number, request: string, moment: Moment): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    // A bound of the test's own: no cycle lasts longer, whatever the server does.
    const timer = setTimeout(done, 5000);
    socket.on("error", done);
    socket.on("close", done);
    socket.once("connect", () => {
      if (moment === "before-headers-end") return void socket.write(request.slice(0, request.length - 2), () => setImmediate(done));
      // The token arrives whole; the hang-up comes while the gateway verifies it and admits the stream.
      if (moment === "mid-verification") return void socket.write(request, () => setImmediate(done));
      socket.write(request);
      socket.once("data", done);
    });
  });
}

// The abuse suite's churn: tens of thousands of opens and hang-ups, some in the middle of the
// token check, must leave no stream registered and give back memory and descriptors.
describe("connect and close churn", () => {
  let gw: RunningGateway;
  let port: number;
  before(async () => {
    gw = await startGateway({ MAX_CONNECTIONS_PER_USER: "100000", MAX_STREAM_OPENS_PER_USER_PER_MINUTE: "1000000", REQUEST_TIMEOUT_MS: "1000" });
    port = Number(new URL(gw.url).port);
  });
  after(() => gw.stop());

  it(`${CYCLES} cycles: 0 registered streams, heap and descriptors back to their baseline`, { timeout: 120_000 }, async () => {
    const requests = await Promise.all(
      Array.from({ length: USERS }, async (_, i) => `GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${await token({ sub: `churn-${i}` })}\r\n\r\n`),
    );
    // A warm-up, so that the baseline holds what the first streams allocate once (JIT, pools).
    for (let i = 0; i < 500; i++) await cycle(port, requests[i % USERS]!, MOMENTS[i % 3]!);
    await eventually(() => gw.gateway.hub.size === 0, 5000, "the warm-up's streams to be gone");
    gc();
    const baseline = { heap: process.memoryUsage().heapUsed, fds: openFds() };

    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < CYCLES) {
          const i = next++;
          await cycle(port, requests[i % USERS]!, MOMENTS[i % 3]!);
        }
      }),
    );

    await eventually(() => gw.gateway.hub.size === 0, 10_000, `0 registered streams (now ${gw.gateway.hub.size})`);
    await eventually(() => openFds() <= baseline.fds + 5, 10_000, `descriptors back to ${baseline.fds} (now ${openFds()})`);
    let grownMb = Number.POSITIVE_INFINITY;
    await eventually(
      () => {
        gc();
        grownMb = (process.memoryUsage().heapUsed - baseline.heap) / 2 ** 20;
        return grownMb < 8;
      },
      10_000,
      `the heap back to its baseline (grown by ${grownMb.toFixed(1)} MiB)`,
    );
    // Every user can still open streams: no per-user count was left behind by a hang-up.
    const stream = await connectSse(gw.url, { token: await token({ sub: "churn-0" }) });
    assert.equal(stream.status, 200);
    stream.close();
  });
});
