import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Duration } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { createGatewayApp } from "../../infra/app.ts";
import { LOAD_BALANCER_IDLE_TIMEOUT, checkHeartbeatInterval } from "../../infra/deployment-settings.ts";
import { loadConfig } from "../../src/config/config.ts";
import { drainDeadline } from "../../src/drain/target-health-watcher.ts";
import { longestSilenceMs } from "../../src/hub/heartbeat-rotation.ts";
import { containerOf, environmentOf, findOne, refersTo, statementsOf, type Resource } from "./template-helpers.ts";

// How the stack lets a task leave on ECS without cutting its streams, and keeps quiet streams alive.
const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-synth-"));
after(() => rmSync(outdir, { recursive: true, force: true }));
const { stack } = createGatewayApp({}, outdir);
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Record<string, Resource>;
const container = containerOf(resources);
const environment = environmentOf(container);
const targetGroup = findOne(resources, "AWS::ElasticLoadBalancingV2::TargetGroup");
const attribute = (key: string) =>
  (targetGroup.properties.TargetGroupAttributes as { Key: string; Value: string }[]).find(({ Key }) => Key === key)?.Value;
const taskRoleId = (findOne(resources, "AWS::ECS::TaskDefinition").properties.TaskRoleArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
const taskRoleStatements = Object.values(resources)
  .filter((resource) => resource.Type === "AWS::IAM::Policy" && refersTo(resource.Properties.Roles, taskRoleId, "Ref"))
  .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument));

describe("health check", () => {
  test("the target group checks /healthz, which only a leaving task fails, never a shared backend outage", () => {
    assert.equal(targetGroup.properties.HealthCheckPath, "/healthz");
    assert.equal(targetGroup.properties.Matcher && (targetGroup.properties.Matcher as { HttpCode: string }).HttpCode, "200");
  });
});

describe("the task watches its own target", () => {
  test("TARGET_GROUP_ARN is the service's target group, DEREGISTRATION_DELAY_MS its delay", () => {
    assert.ok(refersTo(environment.get("TARGET_GROUP_ARN"), targetGroup.id, "Ref"));
    assert.equal(Number(environment.get("DEREGISTRATION_DELAY_MS")), Number(attribute("deregistration_delay.timeout_seconds")) * 1000);
    assert.ok(Number(environment.get("TARGET_HEALTH_POLL_MS")) >= 1000, "a modest poll: every task calls the API");
  });

  test("the environment the stack sets is one the gateway accepts, with ECS's own variable added", () => {
    const env = Object.fromEntries([...environment].filter(([, value]) => typeof value === "string")) as Record<string, string>;
    const config = loadConfig(
      { ...env, JWT_SECRET: "x".repeat(32), TARGET_GROUP_ARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/SseGa-Gatew-1ABC/0123456789abcdef", ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/abc" },
      () => new Uint8Array(32),
    );
    assert.equal(config.targetHealth?.port, 8080);
    // The drain the gateway runs on `draining` lasts about as long as the one on SIGTERM.
    const window = drainDeadline(config.targetHealth!.deregistrationDelayMs, 0) - config.targetHealth!.pollIntervalMs;
    assert.ok(window >= config.shutdownGraceMs, `drain window ${window} ms, SHUTDOWN_GRACE_MS ${config.shutdownGraceMs}`);
  });

  test("the task role may call elasticloadbalancing:DescribeTargetHealth, named, in its region only", () => {
    const statements = taskRoleStatements.filter((statement) => JSON.stringify(statement.Action).includes("elasticloadbalancing"));
    assert.equal(statements.length, 1);
    const [statement] = statements;
    assert.equal(statement!.Effect, "Allow");
    assert.equal(statement!.Action, "elasticloadbalancing:DescribeTargetHealth", "that one action, no wildcard");
    // ELB's Describe* actions take no resource-level permissions: "*" is the only resource AWS accepts.
    assert.equal(statement!.Resource, "*");
    assert.deepEqual(statement!.Condition, { StringEquals: { "aws:RequestedRegion": { Ref: "AWS::Region" } } });
    for (const other of taskRoleStatements) {
      if (other !== statement) assert.notEqual(other.Resource, "*", "no other statement on *");
    }
  });
});

describe("timings", () => {
  test("SIGTERM comes after the deregistration delay; SIGKILL only after the fallback drain", () => {
    const stopTimeout = Number(container.StopTimeout);
    const graceSeconds = Number(environment.get("SHUTDOWN_GRACE_MS")) / 1000;
    assert.ok(stopTimeout <= 120, "Fargate's limit");
    assert.ok(stopTimeout > graceSeconds, "the SIGTERM drain ends before SIGKILL");
    assert.ok(Number(attribute("deregistration_delay.timeout_seconds")) > graceSeconds + Number(environment.get("TARGET_HEALTH_POLL_MS")) / 1000);
  });

  test("a stream's longest silence stays a quarter of the idle timeout below it", () => {
    const loadBalancer = findOne(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    const idle = (loadBalancer.properties.LoadBalancerAttributes as { Key: string; Value: string }[]).find(({ Key }) => Key === "idle_timeout.timeout_seconds");
    assert.equal(Number(idle?.Value), LOAD_BALANCER_IDLE_TIMEOUT.toSeconds());
    const silence = longestSilenceMs(Number(environment.get("HEARTBEAT_INTERVAL_MS")));
    assert.ok(silence <= LOAD_BALANCER_IDLE_TIMEOUT.toMilliseconds() * 0.75, `longest silence ${silence} ms`);
  });

  test("a heartbeat interval the idle timeout cannot hold is refused at synth time, with the figures", () => {
    assert.doesNotThrow(() => checkHeartbeatInterval(Duration.seconds(60)));
    assert.throws(() => checkHeartbeatInterval(Duration.seconds(88)), /heartbeatIntervalMs of 88000 lets a stream go 90933 ms without a byte; the 120 s idle timeout/);
    assert.throws(() => checkHeartbeatInterval(Duration.millis(500)), /1000 ms or more/);
    assert.throws(() => createGatewayApp({ heartbeatIntervalMs: "100000" }, outdir), /heartbeatIntervalMs of 100000/);
  });
});
