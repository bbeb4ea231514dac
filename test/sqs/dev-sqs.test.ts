import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { connectSse } from "../support/sse-client.ts";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");

test("npm run dev:sqs: the printed send-event line reaches the demo user's stream through the queue", { timeout: 30_000 }, async () => {
  const child = spawn("npm", ["run", "-s", "dev:sqs"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, "exit");
  const waitFor = async (pattern: RegExp) => {
    for (let waited = 0; waited < 15_000; waited += 50) {
      const match = output.match(pattern);
      if (match) return match;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no ${pattern} in:\n${output}`);
  };
  try {
    const [, url] = await waitFor(/Listening on: +(\S+)\n/);
    const [, token] = await waitFor(/Subscriber token: +(\S+)\n/);
    await waitFor(/Sources: +HTTP \(POST \/publish\), SQS queue \S+/);
    const [, sendLine] = await waitFor(/\n {4}(SQS_QUEUE_URL=\S+ .*npm run send-event -- .+)\n/);
    const stream = await connectSse(url!, { token: token!, tokenInQuery: true });
    assert.equal(stream.status, 200);
    // The line exactly as printed, in a shell, from the repository folder.
    const sent = await run("sh", ["-c", sendLine!], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
    assert.match(sent.stdout, /sent event \S+ \(greeting\) as SQS message/);
    const [event] = await stream.waitFor(1, (received) => received.event === "greeting", 10_000);
    assert.deepEqual(JSON.parse(event!.data), { hello: "from SQS", userId: "demo-user" });
    stream.close();
    // npm runs the gateway as its child: the whole group gets the signal, as a terminal's Ctrl-C
    // does. npm itself ends by the signal; the gateway drains, the queue consumer first.
    process.kill(-child.pid!, "SIGINT");
    await exited;
    assert.match(output, /"reason":"SIGINT","msg":"shutting down"/);
    assert.match(output, /"msg":"draining: sources stopped/);
    assert.doesNotMatch(output, /"level":(40|50|60)/, "no warning or error on the way");
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
  }
});
