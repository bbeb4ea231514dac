import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { App, CfnParameter, Duration, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { createGatewayApp } from "../../infra/app.ts";
import { eventPatternFrom } from "../../infra/deployment-settings.ts";
import { drainTimingFor } from "../../infra/drain-timing.ts";
import { JwtSettings } from "../../infra/jwt-settings.ts";
import { containerOf, environmentOf, findOne, type Resource } from "./template-helpers.ts";

// Context as the CLI passes it (`-c key=value`: every value a string), in JWKS mode.
const certificateArn = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";
const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-synth-"));
after(() => rmSync(outdir, { recursive: true, force: true }));
const { stack } = createGatewayApp({
  certificateArn,
  domainName: "events.example.com",
  eventBusName: "orders",
  eventPattern: '{"source":["shop.orders"],"detail-type":["order.shipped"]}',
  jwtMode: "jwks",
  jwksUrl: "https://id.example.com/.well-known/jwks.json",
  jwtIssuer: "https://id.example.com/",
  jwtAudience: "sse-gateway",
  corsOrigins: "https://shop.example.com, https://admin.example.com",
  minTasks: "3",
  shutdownGraceMs: "40000",
}, outdir);
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Record<string, Resource>;
const container = containerOf(resources);
const environment = environmentOf(container);

describe("context given on the command line", () => {
  test("certificate and domain become literal values, not parameters", () => {
    const parameters = Object.keys(template.toJSON().Parameters as Record<string, unknown>);
    assert.deepEqual(parameters, ["BootstrapVersion"]);
    const https = findOne(resources, "AWS::ElasticLoadBalancingV2::Listener", (listener) => listener.properties.Port === 443);
    assert.deepEqual(https.properties.Certificates, [{ CertificateArn: certificateArn }]);
    template.hasOutput("Url", { Value: "https://events.example.com/" });
  });

  test("the rule listens on the named bus with the given pattern", () => {
    const rule = findOne(resources, "AWS::Events::Rule");
    assert.equal(rule.properties.EventBusName, "orders");
    assert.deepEqual(rule.properties.EventPattern, { source: ["shop.orders"], "detail-type": ["order.shipped"] });
    template.hasOutput("EventBusName", { Value: "orders" });
  });

  test("JWKS mode passes the provider settings and creates no secret", () => {
    assert.equal(environment.get("JWKS_URL"), "https://id.example.com/.well-known/jwks.json");
    assert.equal(environment.get("JWT_ISSUER"), "https://id.example.com/");
    assert.equal(environment.get("JWT_AUDIENCE"), "sse-gateway");
    const secrets = container.Secrets as { Name: string }[];
    assert.deepEqual(secrets.map(({ Name }) => Name), ["REDIS_USERNAME", "REDIS_PASSWORD"], "no JWT_SECRET");
    template.resourceCountIs("AWS::SecretsManager::Secret", 1);
    assert.equal(findOne(resources, "AWS::SecretsManager::Secret").properties.Description, "Valkey user of the SSE gateway (REDIS_USERNAME, REDIS_PASSWORD)");
  });

  test("CORS origins, task count and drain settings follow the context", () => {
    assert.equal(environment.get("CORS_ORIGINS"), "https://shop.example.com,https://admin.example.com");
    assert.equal(findOne(resources, "AWS::ECS::Service").properties.DesiredCount, 3);
    assert.equal(environment.get("SHUTDOWN_GRACE_MS"), "40000");
    assert.ok(Number(container.StopTimeout) > 40);
  });
});

describe("cost switches", () => {
  test("vpcFlowLogs=false and containerInsights=false turn both off", () => {
    const { stack } = createGatewayApp({ vpcFlowLogs: "false", containerInsights: false }, outdir);
    const template = Template.fromStack(stack);
    template.resourceCountIs("AWS::EC2::FlowLog", 0);
    template.hasResourceProperties("AWS::ECS::Cluster", { ClusterSettings: [{ Name: "containerInsights", Value: "disabled" }] });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
      LoadBalancerAttributes: Match.arrayWith([{ Key: "access_logs.s3.enabled", Value: "true" }]),
    });
  });

  test("anything but true or false is refused", () => {
    assert.throws(() => createGatewayApp({ vpcFlowLogs: "no" }, outdir), /context vpcFlowLogs must be true or false/);
    assert.throws(() => createGatewayApp({ containerInsights: 1 }, outdir), /context containerInsights must be true or false/);
  });
});

describe("settings that cannot work are refused at synth time", () => {
  test("JWKS values left out become CloudFormation parameters", () => {
    const stack = new Stack(new App(), "Jwks");
    const settings = new JwtSettings(stack, "Jwt", { kind: "jwks" });
    const parameterOf = { JWKS_URL: "JwksUrl", JWT_ISSUER: "JwtIssuer", JWT_AUDIENCE: "JwtAudience" };
    for (const [variable, name] of Object.entries(parameterOf)) {
      assert.ok(stack.node.findChild(name) instanceof CfnParameter, `parameter ${name}`);
      assert.deepEqual(stack.resolve(settings.environment[variable]), { Ref: name });
    }
    assert.deepEqual(settings.secrets, {});
  });

  test("an event pattern must use EventBridge's field names and shapes", () => {
    assert.throws(() => eventPatternFrom({ detailType: ["x"] }), /unknown field "detailType"/);
    assert.throws(() => eventPatternFrom({ source: "shop" }), /"source" must be a list/);
    assert.throws(() => eventPatternFrom({}), /at least one field/);
    assert.deepEqual(eventPatternFrom({ detail: { kind: ["a"] } }), { detail: { kind: ["a"] } });
  });

  test("a drain that cannot finish before Fargate's 120 s stop limit is refused", () => {
    assert.throws(() => drainTimingFor(Duration.seconds(110)), /stopTimeout limit/);
    const timing = drainTimingFor(Duration.seconds(15));
    assert.ok(timing.stopTimeout.toSeconds() > 15 && timing.deregistrationDelay.toSeconds() > 15);
  });

  test("fewer than two tasks, or malformed numbers, are refused", () => {
    assert.throws(() => createGatewayApp({ minTasks: "1" }, outdir), /at least 2/);
    assert.throws(() => createGatewayApp({ maxTasks: "ten" }, outdir), /whole number/);
    assert.throws(() => createGatewayApp({ jwtMode: "basic" }, outdir), /jwtMode/);
  });
});

describe("context values that synthesise a stack that cannot deploy or start are refused in one line", () => {
  const refused: [string, Record<string, string>, RegExp][] = [
    ["more minimum than maximum tasks", { minTasks: "5", maxTasks: "2" }, /context maxTasks \(2\) must be at least minTasks \(5\)/],
    ["no delivery before dead-lettering", { maxReceiveCount: "0" }, /context maxReceiveCount must be from 1 to 1000/],
    ["dead-lettering SQS cannot express", { maxReceiveCount: "1001" }, /context maxReceiveCount must be from 1 to 1000/],
    ["a grace in part seconds", { shutdownGraceMs: "15500" }, /context shutdownGraceMs must be a whole number of seconds/],
    ["a grace beyond any stop timeout", { shutdownGraceMs: "99999999" }, /context shutdownGraceMs/],
    ["no streams per task", { streamsPerTask: "0" }, /context streamsPerTask must be from 1/],
    ["a CPU target of 0", { cpuTargetPercent: "0" }, /context cpuTargetPercent must be from 1 to 100/],
    ["a CPU target never reached", { cpuTargetPercent: "250" }, /context cpuTargetPercent must be from 1 to 100/],
    ["a CPU size Fargate lacks", { taskCpu: "3" }, /context taskCpu must be one of 256, 512, 1024/],
    ["a secret that is no Secrets Manager ARN", { jwtSecretArn: "nope" }, /context jwtSecretArn must be a complete Secrets Manager secret ARN/],
    ["an origin the gateway refuses", { corsOrigins: "*" }, /CORS_ORIGINS|corsOrigins/],
  ];
  for (const [what, context, message] of refused) {
    test(what, () => {
      assert.throws(() => createGatewayApp(context, outdir), (error: unknown) => (error as Error).name === "SettingsError" && message.test((error as Error).message));
    });
  }
});
