import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { createGatewayApp } from "../../infra/app.ts";
import { containerOf, environmentOf, statementsOf, type Resource } from "./template-helpers.ts";

const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-synth-"));
after(() => rmSync(outdir, { recursive: true, force: true }));
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:app-authorizer";

function synth(context: Record<string, unknown>) {
  const resources = Template.fromStack(createGatewayApp(context, outdir).stack).toJSON().Resources as Record<string, Resource>;
  const lambdaStatements = Object.values(resources)
    .filter((resource) => resource.Type === "AWS::IAM::Policy")
    .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument))
    .filter((statement) => JSON.stringify(statement.Action).includes("lambda:"));
  return { environment: environmentOf(containerOf(resources)), lambdaStatements };
}

describe("subscriber authorizer in the stack", () => {
  test("a Lambda authorizer: AUTH_LAMBDA_ARN, and lambda:InvokeFunction on that function only", () => {
    const { environment, lambdaStatements } = synth({ authLambdaArn: FUNCTION_ARN });
    assert.equal(environment.get("AUTH_LAMBDA_ARN"), FUNCTION_ARN);
    assert.ok(!environment.has("AUTH_LAMBDA_USER_ID_KEY"), "the gateway's defaults apply");
    assert.ok(!environment.has("AUTH_WEBHOOK_URL"));
    assert.deepEqual(lambdaStatements, [{ Effect: "Allow", Action: "lambda:InvokeFunction", Resource: FUNCTION_ARN }]);
  });

  test("a simple-response authorizer: its answer's key paths reach the container", () => {
    const { environment } = synth({ authLambdaArn: FUNCTION_ARN, authLambdaUserIdKey: "context.userId", authLambdaTopicsKey: "context.allowed" });
    assert.equal(environment.get("AUTH_LAMBDA_USER_ID_KEY"), "context.userId");
    assert.equal(environment.get("AUTH_LAMBDA_TOPICS_KEY"), "context.allowed");
  });

  test("a webhook: AUTH_WEBHOOK_URL, and no Lambda permission", () => {
    const { environment, lambdaStatements } = synth({ authWebhookUrl: "https://app.internal/sse-auth" });
    assert.equal(environment.get("AUTH_WEBHOOK_URL"), "https://app.internal/sse-auth");
    assert.deepEqual(lambdaStatements, []);
  });

  test("neither by default: no variable, no Lambda permission", () => {
    const { environment, lambdaStatements } = synth({});
    assert.ok(!environment.has("AUTH_WEBHOOK_URL") && !environment.has("AUTH_LAMBDA_ARN"));
    assert.deepEqual(lambdaStatements, []);
  });

  test("settings that cannot work are refused at synth time", () => {
    assert.throws(() => createGatewayApp({ authLambdaArn: FUNCTION_ARN, authWebhookUrl: "https://a.test/" }, outdir), /exclude each other/);
    assert.throws(() => createGatewayApp({ authLambdaArn: "app-authorizer" }, outdir), /authLambdaArn must be a Lambda function ARN/);
    assert.throws(() => createGatewayApp({ authLambdaArn: "arn:aws:lambda:eu-west-1:123456789012:function:*" }, outdir), /authLambdaArn must be a Lambda function ARN/);
    assert.throws(() => createGatewayApp({ authWebhookUrl: "https://user:pw@a.test/" }, outdir), /authWebhookUrl must be an http\(s\) URL/);
    assert.throws(() => createGatewayApp({ authLambdaUserIdKey: "context.userId" }, outdir), /go with authLambdaArn/);
    assert.throws(() => createGatewayApp({ authLambdaArn: FUNCTION_ARN, authLambdaTopicsKey: "a..b" }, outdir), /authLambdaTopicsKey must be a dotted key path/);
  });
});
