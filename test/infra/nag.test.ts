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
  "Container Insights off alone": { containerInsights: "false" },
  "a webhook authorizer": { authWebhookUrl: "https://auth.example.com/streams" },
};

/**
 * Every rule must pass or be acknowledged, only these, each on the constructs named here and with a
 * reason (README, Deployment on AWS): an acknowledgment on another construct (a new role's wildcard,
 * the whole stack) would silence the rule for resources nobody reviewed.
 */
const ACKNOWLEDGED: Record<string, readonly string[]> = {
  "AwsSolutions-AEC6": ["SseGateway/Redis/ReplicationGroup"],
  "AwsSolutions-EC23": ["SseGateway/Gateway/LoadBalancer/SecurityGroup"],
  "AwsSolutions-ECS2": ["SseGateway/Gateway/Task"],
  "AwsSolutions-IAM5[Resource::*]": [
    "SseGateway/Gateway/Task/TaskRole",
    "SseGateway/Gateway/Task/ExecutionRole",
    "SseGateway/ValkeyPasswordRotation/Role",
    "SseGateway/JwtKeyRotation/Role",
  ],
  "AwsSolutions-S1": ["SseGateway/AuditLogs/Bucket"],
};
/** Acknowledged only where the context turned the feature off. */
const ACKNOWLEDGED_WHEN_TURNED_OFF: Record<string, { readonly flag: string; readonly path: string }> = {
  "AwsSolutions-VPC7": { flag: "vpcFlowLogs", path: "SseGateway/Network" },
  "AwsSolutions-ECS4": { flag: "containerInsights", path: "SseGateway/Gateway/Cluster" },
};

/** Acknowledgments outside the lists above, or without a real reason. */
function unexpectedAcknowledgments(stack: Stack, context: Record<string, unknown>): string[] {
  return acknowledgments(stack).flatMap(({ path, rule, reason }) => {
    const whenOff = ACKNOWLEDGED_WHEN_TURNED_OFF[rule];
    const allowed = (ACKNOWLEDGED[rule]?.includes(path) ?? false) || (whenOff !== undefined && context[whenOff.flag] === "false" && whenOff.path === path);
    if (!allowed) return [`${rule} acknowledged at ${path}`];
    return reason.length >= 40 ? [] : [`${rule} at ${path} needs a real reason, not "${reason}"`];
  });
}

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

    test("acknowledge only the listed rules on the listed constructs, each with a reason", () => {
      assert.deepEqual(unexpectedAcknowledgments(stack, context), []);
    });
  });
}

describe("acknowledgments cannot widen", () => {
  test("one of a listed rule on another construct, or on the whole stack, is caught", () => {
    const { stack } = createGatewayApp({}, outdir);
    const reason = "a reason long enough to pass the length check, given by whoever added the role";
    Validations.of(stack).acknowledge({ id: "AwsSolutions-IAM5[Resource::*]", reason });
    Validations.of(stack.node.findChild("Network")).acknowledge({ id: "AwsSolutions-EC23", reason });
    assert.deepEqual(unexpectedAcknowledgments(stack, {}), [
      "AwsSolutions-IAM5[Resource::*] acknowledged at SseGateway",
      "AwsSolutions-EC23 acknowledged at SseGateway/Network",
    ]);
  });
});

describe("synthesis itself", () => {
  test("fails on a finding nobody fixed or acknowledged, as `npm run synth` and `cdk deploy` would", () => {
    const { app, stack } = createGatewayApp({}, outdir);
    new aws_sqs.Queue(stack, "Unchecked");
    assert.throws(() => app.synth(), /Validation failed/);
    const { app: clean } = createGatewayApp({}, outdir);
    assert.doesNotThrow(() => clean.synth());
  });
});
