import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Validations, aws_sqs, type Stack } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { Template } from "aws-cdk-lib/assertions";
import { createGatewayApp } from "../../infra/app.ts";
import { containerOf, environmentOf, type Resource } from "./template-helpers.ts";

// cdk-nag's AwsSolutions pack, as teams run it before a deploy, on every shape of the stack.
const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-nag-"));
after(() => rmSync(outdir, { recursive: true, force: true }));

const VARIANTS: Record<string, Record<string, unknown>> = {
  "the defaults (HS256 key in Secrets Manager)": {},
  "an existing HS256 secret": { jwtSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:sse-jwt-AbCdEf" },
  "JWKS mode": { jwtMode: "jwks" },
  "a Lambda authorizer": { authLambdaArn: "arn:aws:lambda:us-east-1:123456789012:function:app-authorizer" },
  "flow logs and Container Insights off": { vpcFlowLogs: "false", containerInsights: "false" },
  "a webhook authorizer": { authWebhookUrl: "https://auth.example.com/streams" },
};

/** Every rule must pass or be acknowledged, only these, each with a reason (README, Deployment on AWS). */
const ACKNOWLEDGED = new Set([
  "AwsSolutions-AEC6", "AwsSolutions-EC23", "AwsSolutions-ECS2", "AwsSolutions-IAM5[Resource::*]", "AwsSolutions-S1",
]);
const ACKNOWLEDGED_WHEN_TURNED_OFF = new Set(["AwsSolutions-VPC7", "AwsSolutions-ECS4"]);

function findings(stack: Stack): string[] {
  return new AwsSolutionsChecks(stack, { verbose: true }).validateScope(stack).violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}: ${violation.description}`));
}

function acknowledgments(stack: Stack): { path: string; rule: string; reason: string }[] {
  return stack.node.findAll().flatMap((construct) => construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
    .filter(([id]) => id.startsWith("Annotation::AwsSolutions-"))
    .map(([id, reason]) => ({ path: construct.node.path, rule: id.slice("Annotation::".length), reason })));
}

for (const [name, context] of Object.entries(VARIANTS)) {
  describe(`AwsSolutions checks with ${name}`, () => {
    const { stack } = createGatewayApp(context, outdir);

    test("leave no finding unfixed or unacknowledged", () => {
      assert.deepEqual(findings(stack), []);
    });

    test("keep the ECS2 reason true: nothing that looks secret sits in plain environment", () => {
      const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
      const names = [...environmentOf(containerOf(resources)).keys()];
      const secretLooking = names.filter((name) => /(^|_)(SECRET|PASSWORD|CREDENTIALS?|TOKEN|API_KEY|PRIVATE_KEY|AUTH)$/.test(name));
      assert.deepEqual(secretLooking, [], `plain environment: ${names.join(", ")}`);
    });

    test("acknowledge only the listed rules, each with a reason", () => {
      const turnedOff = context.vpcFlowLogs === "false";
      for (const { path, rule, reason } of acknowledgments(stack)) {
        const allowed = ACKNOWLEDGED.has(rule) || (turnedOff && ACKNOWLEDGED_WHEN_TURNED_OFF.has(rule));
        assert.ok(allowed, `${rule} acknowledged at ${path}`);
        assert.ok(reason.length >= 40, `${rule} at ${path} needs a real reason, not "${reason}"`);
      }
    });
  });
}

describe("synthesis itself", () => {
  test("fails on a finding nobody fixed or acknowledged, as `npm run synth` and `cdk deploy` would", () => {
    const { app, stack } = createGatewayApp({}, outdir);
    new aws_sqs.Queue(stack, "Unchecked");
    assert.throws(() => app.synth(), /Validation failed/);
    const { app: clean } = createGatewayApp({}, outdir);
    assert.doesNotThrow(() => clean.synth());
  });
});
