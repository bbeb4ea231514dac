import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const outdir = mkdtempSync(path.join(tmpdir(), "cdk-entry-"));
after(() => rmSync(outdir, { recursive: true, force: true }));

/** The app as the CDK CLI runs it (`node infra/app.ts`, context in CDK_CONTEXT_JSON). */
function synth(context: Record<string, unknown>) {
  const env = { PATH: process.env.PATH ?? "", CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir };
  return spawnSync(process.execPath, [path.join(ROOT, "infra/app.ts")], { env, encoding: "utf8", timeout: 60_000 });
}

describe("the CDK app's entry point on wrong context values", () => {
  // Values as the CLI passes them for -c key=value: strings.
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ maxTasks: "ten" }, "maxTasks"],
    [{ minTasks: "1" }, "minTasks"],
    [{ eventPattern: "{bad" }, "eventPattern"],
    [{ eventPattern: '{"sources":["app.x"]}' }, "eventPattern"],
    [{ shutdownGraceMs: "200000" }, "shutdownGraceMs"],
    [{ heartbeatIntervalMs: "100000" }, "heartbeatIntervalMs"],
    [{ jwtMode: "basic" }, "jwtMode"],
    [{ authLambdaArn: "my-function" }, "authLambdaArn"],
    [{ authWebhookUrl: "https://a.example/", authLambdaArn: "arn:aws:lambda:eu-west-1:123456789012:function:f" }, "authWebhookUrl"],
    [{ vpcFlowLogs: "no" }, "vpcFlowLogs"],
    [{ logRetentionDays: "2" }, "logRetentionDays"],
    [{ corsOrigins: 5 }, "corsOrigins"],
    [{ secretRotationDays: "0" }, "secretRotationDays"],
  ];
  for (const [context, key] of cases) {
    it(`${JSON.stringify(context)}: one line naming ${key}, no stack trace, exit 1`, () => {
      const result = synth(context);
      assert.equal(result.status, 1, result.stderr);
      assert.equal(result.stdout, "");
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, new RegExp(`^sse-gateway CDK app: context ${key} `));
    });
  }

  it("through the CDK CLI too", () => {
    const result = spawnSync("npx", ["cdk", "synth", "--quiet", "-c", "maxTasks=ten", "-o", outdir], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /^sse-gateway CDK app: context maxTasks must be a whole number, not "ten"$/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  });
});

it("every refusal in infra/ is a SettingsError, so the entry point prints it in one line", () => {
  const files = readdirSync(path.join(ROOT, "infra")).filter((file) => file.endsWith(".ts"));
  const plain = files.filter((file) => /throw new Error\(/.test(readFileSync(path.join(ROOT, "infra", file), "utf8")));
  assert.deepEqual(plain, [], "throw new SettingsError (infra/settings-error.ts) with a message starting `context <key>`");
});
