import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { test } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { token } from "../support/gateway.ts";
import { userEvents, withSqsGateway } from "../support/sqs.ts";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const fixture = withSqsGateway();

test("npm run send-event puts an EventBridge event on the queue that reaches the user", { timeout: 15_000 }, async () => {
  const stream = await connectSse(fixture.gateway.url, { token: await token({ sub: "u1", topics: ["ops"] }), topics: ["ops"] });
  try {
    const args = ["scripts/send-event.ts", "--user", "u1", "--type", "file.processed", "--data", '{"fileId":"42"}', "--id", "evt-1"];
    const env = { PATH: process.env.PATH, ...fixture.sqs.gatewayEnv(fixture.queue) };
    const { stdout } = await run(process.execPath, args, { cwd: ROOT, env });
    assert.match(stdout, /sent event evt-1 \(file\.processed\) as SQS message \S+/);
    await run(process.execPath, ["scripts/send-event.ts", "--topic", "ops", "--type", "ops.note"], { cwd: ROOT, env });
    const [processed, note] = await stream.waitFor(2, userEvents);
    assert.equal(processed!.event, "file.processed");
    assert.deepEqual(JSON.parse(processed!.data), { fileId: "42", userId: "u1" });
    assert.equal(note!.event, "ops.note");
    await assert.rejects(run(process.execPath, ["scripts/send-event.ts", "--type", "x"], { cwd: ROOT, env }), /recipient user/);
  } finally {
    stream.close();
  }
});
