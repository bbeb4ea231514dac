import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { REPOSITORY_ROOT, createGatewayApp } from "../../infra/app.ts";
import { DEFAULT_EVENT_PATTERN } from "../../infra/deployment-settings.ts";
import { GATEWAY_ACCESS_STRING, GATEWAY_USERNAME, KEY_PREFIX } from "../../infra/redis-cluster.ts";
import { findOne, containerOf, environmentOf, refersTo, statementsOf, type Resource } from "./template-helpers.ts";

// The stack as `npm run synth` makes it: no context, so certificate and domain are parameters.
const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-synth-"));
after(() => rmSync(outdir, { recursive: true, force: true }));
const { app, stack } = createGatewayApp({}, outdir);
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Record<string, Resource>;
const container = containerOf(resources);
const environment = environmentOf(container);
const shutdownGraceSeconds = Number(environment.get("SHUTDOWN_GRACE_MS")) / 1000;
const heartbeatSeconds = Number(environment.get("HEARTBEAT_INTERVAL_MS")) / 1000;

describe("network and service", () => {
  test("the VPC spans two AZs and the service's subnets sit in distinct AZs", () => {
    const service = findOne(resources, "AWS::ECS::Service");
    const config = service.properties.NetworkConfiguration as { AwsvpcConfiguration: { Subnets: { Ref: string }[]; AssignPublicIp: string } };
    const zones = config.AwsvpcConfiguration.Subnets.map(({ Ref }) => JSON.stringify(resources[Ref]?.Properties.AvailabilityZone));
    assert.ok(zones.length >= 2, "service runs in at least two subnets");
    assert.equal(new Set(zones).size, zones.length, "each subnet in its own AZ");
    assert.equal(config.AwsvpcConfiguration.AssignPublicIp, "DISABLED");
    for (const { Ref } of config.AwsvpcConfiguration.Subnets) {
      assert.equal(resources[Ref]?.Properties.MapPublicIpOnLaunch, false, "tasks sit in private subnets");
    }
  });

  test("a Fargate service runs at least two tasks in an ECS cluster, never scaled below two", () => {
    template.resourceCountIs("AWS::ECS::Cluster", 1);
    const service = findOne(resources, "AWS::ECS::Service");
    assert.equal(service.properties.LaunchType, "FARGATE");
    assert.ok(Number(service.properties.DesiredCount) >= 2);
    const scalable = findOne(resources, "AWS::ApplicationAutoScaling::ScalableTarget");
    assert.ok(Number(scalable.properties.MinCapacity) >= 2);
    assert.ok(Number(scalable.properties.MaxCapacity) > Number(scalable.properties.MinCapacity));
  });

  test("the container runs the gateway in production mode with its backends", () => {
    assert.equal(environment.get("NODE_ENV"), "production");
    assert.equal(environment.get("HOST"), "0.0.0.0");
    assert.equal(environment.get("PORT"), "8080");
    const redisUrl = JSON.stringify(environment.get("REDIS_URL"));
    assert.match(redisUrl, /"rediss:\/\/"/, "TLS to Valkey");
    assert.match(redisUrl, /PrimaryEndPoint\.Address/);
    const queue = findOne(resources, "AWS::SQS::Queue", (queue) => queue.properties.RedrivePolicy !== undefined);
    assert.ok(refersTo(environment.get("SQS_QUEUE_URL"), queue.id, "Ref"));
    assert.deepEqual(environment.get("AWS_REGION"), { Ref: "AWS::Region" });
    assert.ok(Number.isInteger(heartbeatSeconds) && heartbeatSeconds > 0);
    assert.ok(typeof environment.get("EMF_NAMESPACE") === "string" && environment.get("EMF_NAMESPACE") !== "");
    assert.deepEqual(container.PortMappings, [{ ContainerPort: 8080, Name: "http", Protocol: "tcp" }]);
  });

  test("many open connections are allowed per task", () => {
    const ulimits = container.Ulimits as { Name: string; SoftLimit: number; HardLimit: number }[];
    const nofile = ulimits.find((limit) => limit.Name === "nofile");
    assert.ok(nofile && nofile.SoftLimit >= 65536 && nofile.HardLimit >= nofile.SoftLimit);
  });

  test("the image is built from the repository's Dockerfile, without node_modules or cdk.out", () => {
    assert.match(JSON.stringify(container.Image), /container-assets/);
    const assembly = app.synth();
    const manifest = JSON.parse(readFileSync(join(assembly.directory, `${stack.artifactId}.assets.json`), "utf8")) as {
      dockerImages: Record<string, { source: { directory: string; platform?: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    assert.equal(images.length, 1);
    assert.equal(images[0]!.source.platform, "linux/amd64", "matches the task's X86_64 runtime platform");
    const staged = join(assembly.directory, images[0]!.source.directory);
    assert.ok(existsSync(join(staged, "Dockerfile")), "Dockerfile staged");
    assert.ok(existsSync(join(REPOSITORY_ROOT, "Dockerfile")), "Dockerfile at repository root");
    for (const left of ["node_modules", "cdk.out", ".git", "test"]) assert.ok(!existsSync(join(staged, left)), `${left} left out`);
  });

  test("logs go to a CloudWatch log group with a retention", () => {
    const logging = container.LogConfiguration as { LogDriver: string; Options: Record<string, unknown> };
    assert.equal(logging.LogDriver, "awslogs");
    const group = findOne(resources, "AWS::Logs::LogGroup", (group) => refersTo(logging.Options["awslogs-group"], group.id, "Ref"));
    assert.ok(Number(group.properties.RetentionInDays) > 0);
    for (const [id, resource] of Object.entries(resources)) {
      if (resource.Type === "AWS::Logs::LogGroup") assert.ok(Number(resource.Properties.RetentionInDays) > 0, `${id} has a retention`);
    }
  });
});

describe("load balancer", () => {
  const loadBalancer = findOne(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer");
  const attributes = new Map((loadBalancer.properties.LoadBalancerAttributes as { Key: string; Value: string }[]).map(({ Key, Value }) => [Key, Value]));

  test("is internet facing, keeps HTTP/2 on and idles far longer than the heartbeat", () => {
    assert.equal(loadBalancer.properties.Scheme, "internet-facing");
    assert.equal(attributes.get("routing.http2.enabled"), "true");
    const idleSeconds = Number(attributes.get("idle_timeout.timeout_seconds"));
    assert.ok(idleSeconds >= 120, `idle timeout ${idleSeconds} s`);
    assert.ok(idleSeconds >= 4 * heartbeatSeconds, "several heartbeats fit in the idle timeout");
  });

  test("serves HTTPS with the certificate parameter and redirects HTTP to HTTPS", () => {
    const https = findOne(resources, "AWS::ElasticLoadBalancingV2::Listener", (listener) => listener.properties.Port === 443);
    assert.equal(https.properties.Protocol, "HTTPS");
    assert.deepEqual(https.properties.Certificates, [{ CertificateArn: { Ref: "CertificateArn" } }]);
    template.hasParameter("CertificateArn", { Type: "String" });
    template.hasParameter("DomainName", { Type: "String" });
    const http = findOne(resources, "AWS::ElasticLoadBalancingV2::Listener", (listener) => listener.properties.Port === 80);
    assert.deepEqual(http.properties.DefaultActions, [
      { Type: "redirect", RedirectConfig: { Port: "443", Protocol: "HTTPS", StatusCode: "HTTP_301" } },
    ]);
  });

  test("checks /healthz and drains a leaving task for longer than the gateway's own drain", () => {
    const targets = findOne(resources, "AWS::ElasticLoadBalancingV2::TargetGroup");
    assert.equal(targets.properties.HealthCheckPath, "/healthz");
    assert.equal(targets.properties.TargetType, "ip");
    assert.equal(targets.properties.Port, 8080);
    const delay = (targets.properties.TargetGroupAttributes as { Key: string; Value: string }[])
      .find(({ Key }) => Key === "deregistration_delay.timeout_seconds");
    const stopTimeout = Number(container.StopTimeout);
    assert.ok(shutdownGraceSeconds > 0);
    assert.ok(Number(delay?.Value) > shutdownGraceSeconds, "deregistration delay outlasts SHUTDOWN_GRACE_MS");
    assert.ok(stopTimeout > shutdownGraceSeconds && stopTimeout <= 120, `stopTimeout ${stopTimeout} s`);
  });

  test("only the load balancer reaches the tasks, on the container port", () => {
    const service = findOne(resources, "AWS::ECS::Service");
    const taskGroup = (service.properties.NetworkConfiguration as { AwsvpcConfiguration: { SecurityGroups: unknown[] } })
      .AwsvpcConfiguration.SecurityGroups[0];
    const ingress = Object.values(resources).filter((resource) =>
      resource.Type === "AWS::EC2::SecurityGroupIngress" && JSON.stringify(resource.Properties.GroupId) === JSON.stringify(taskGroup));
    assert.equal(ingress.length, 1);
    assert.equal(ingress[0]!.Properties.FromPort, 8080);
    assert.ok(refersTo(ingress[0]!.Properties.SourceSecurityGroupId, loadBalancerGroupId(), "Fn::GetAtt"));
  });

  function loadBalancerGroupId(): string {
    const groups = loadBalancer.properties.SecurityGroups as { "Fn::GetAtt": [string, string] }[];
    return groups[0]!["Fn::GetAtt"][0];
  }
});

describe("logs for audits and investigations", () => {
  const bucket = findOne(resources, "AWS::S3::Bucket");
  const bucketPolicy = findOne(resources, "AWS::S3::BucketPolicy", (policy) => refersTo(policy.properties.Bucket, bucket.id, "Ref"));
  const statements = statementsOf(bucketPolicy.properties.PolicyDocument);

  test("go to one private, encrypted, TLS-only bucket whose objects expire", () => {
    const encryption = bucket.properties.BucketEncryption as { ServerSideEncryptionConfiguration: { ServerSideEncryptionByDefault: { SSEAlgorithm: string } }[] };
    assert.equal(encryption.ServerSideEncryptionConfiguration[0]!.ServerSideEncryptionByDefault.SSEAlgorithm, "AES256", "SSE-S3: the only encryption ALB access logs accept");
    assert.deepEqual(bucket.properties.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    });
    const rules = (bucket.properties.LifecycleConfiguration as { Rules: { Status: string; ExpirationInDays?: number }[] }).Rules;
    assert.ok(rules.some((rule) => rule.Status === "Enabled" && rule.ExpirationInDays === 30), "log objects expire after logRetentionDays");
    const denyPlainHttp = statements.find((statement) => statement.Effect === "Deny"
      && JSON.stringify(statement.Condition) === JSON.stringify({ Bool: { "aws:SecureTransport": "false" } }));
    assert.ok(denyPlainHttp, "requests without TLS are denied");
    template.hasOutput("LogBucket", { Value: { Ref: bucket.id } });
  });

  test("the load balancer writes access logs there, in any region", () => {
    const loadBalancer = findOne(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    const attributes = new Map((loadBalancer.properties.LoadBalancerAttributes as { Key: string; Value: unknown }[]).map(({ Key, Value }) => [Key, Value]));
    assert.equal(attributes.get("access_logs.s3.enabled"), "true");
    assert.ok(refersTo(attributes.get("access_logs.s3.bucket"), bucket.id, "Ref"));
    assert.equal(attributes.get("access_logs.s3.prefix"), "load-balancer");
    const writes = statements.find((statement) => JSON.stringify(statement.Resource).includes("/load-balancer/AWSLogs/"));
    assert.deepEqual(writes?.Action, "s3:PutObject");
    // Older regions: the region's ELB account; regions since August 2022: the log delivery service.
    const principal = JSON.stringify(writes?.Principal);
    assert.match(principal, /"AWS":\{"Fn::If":\["RegionHasElbLogAccount".*"ElbLogAccounts"/);
    assert.match(principal, /"Service":\{"Fn::If":\["RegionHasElbLogAccount",\{"Ref":"AWS::NoValue"\},"logdelivery\.elasticloadbalancing\.amazonaws\.com"\]/);
    const accounts = template.toJSON().Mappings.ElbLogAccounts as Record<string, { account: string }>;
    assert.equal(accounts["us-east-1"]?.account, "127311923021");
    assert.equal(accounts["ap-southeast-4"], undefined, "a newer region is left to the service principal");
    const condition = JSON.stringify(template.toJSON().Conditions.RegionHasElbLogAccount);
    for (const region of Object.keys(accounts)) assert.ok(condition.includes(`"${region}"`), `condition covers ${region}`);
    const dependsOn = (template.toJSON().Resources[loadBalancer.id] as { DependsOn?: string[] }).DependsOn;
    assert.ok(dependsOn?.includes(bucketPolicy.id), "the policy exists before the load balancer checks it may write");
  });

  test("the VPC records all its traffic in flow logs to that bucket", () => {
    const flowLog = findOne(resources, "AWS::EC2::FlowLog");
    const vpc = findOne(resources, "AWS::EC2::VPC");
    assert.equal(flowLog.properties.ResourceType, "VPC");
    assert.ok(refersTo(flowLog.properties.ResourceId, vpc.id, "Ref"));
    assert.equal(flowLog.properties.TrafficType, "ALL");
    assert.equal(flowLog.properties.LogDestinationType, "s3");
    assert.ok(refersTo(flowLog.properties.LogDestination, bucket.id, "Fn::GetAtt"));
    const delivery = statements.filter((statement) => JSON.stringify(statement.Principal) === JSON.stringify({ Service: "delivery.logs.amazonaws.com" }));
    assert.ok(delivery.some((statement) => JSON.stringify(statement.Resource).includes("/vpc-flow-logs/AWSLogs/")), "log delivery may write under the prefix");
  });

  test("the cluster has Container Insights on", () => {
    const cluster = findOne(resources, "AWS::ECS::Cluster");
    assert.deepEqual(cluster.properties.ClusterSettings, [{ Name: "containerInsights", Value: "enabled" }]);
  });
});

describe("Valkey", () => {
  const group = findOne(resources, "AWS::ElastiCache::ReplicationGroup");

  test("has one replica with automatic failover across AZs and TLS", () => {
    assert.equal(group.properties.NumCacheClusters, 2);
    assert.equal(group.properties.AutomaticFailoverEnabled, true);
    assert.equal(group.properties.MultiAZEnabled, true);
    assert.equal(group.properties.TransitEncryptionEnabled, true);
    assert.match(String(group.properties.Engine), /^(valkey|redis)$/);
  });

  test("lets in only the gateway's user, with a generated password from Secrets Manager", () => {
    const users = Object.entries(resources).filter(([, resource]) => resource.Type === "AWS::ElastiCache::User");
    const userGroup = findOne(resources, "AWS::ElastiCache::UserGroup");
    assert.deepEqual(group.properties.UserGroupIds, [userGroup.properties.UserGroupId]);
    assert.equal(group.properties.AuthToken, undefined, "users, not the shared AUTH token");
    assert.deepEqual(userGroup.properties.UserIds, users.map(([, user]) => user.Properties.UserId));
    const byName = new Map(users.map(([, user]) => [user.Properties.UserName, user.Properties]));
    assert.deepEqual([...byName.keys()].sort(), ["default", GATEWAY_USERNAME]);
    assert.match(String(byName.get("default")!.AccessString), /^off /, "the default user cannot log in");
    assert.equal(byName.get(GATEWAY_USERNAME)!.AccessString, GATEWAY_ACCESS_STRING);
    assert.equal(environment.get("REDIS_KEY_PREFIX"), KEY_PREFIX, "the prefix the access string allows");
    const credentials = findOne(resources, "AWS::SecretsManager::Secret", (secret) => String(secret.properties.Description).includes("REDIS_PASSWORD"));
    const generated = credentials.properties.GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string; PasswordLength: number };
    assert.deepEqual(JSON.parse(generated.SecretStringTemplate), { username: GATEWAY_USERNAME });
    assert.equal(generated.GenerateStringKey, "password");
    assert.ok(generated.PasswordLength >= 32 && generated.PasswordLength <= 128, "within ElastiCache's 16 to 128");
    for (const [, user] of users) {
      const mode = user.Properties.AuthenticationMode as { Type: string; Passwords: unknown[] };
      assert.equal(mode.Type, "password");
      assert.match(JSON.stringify(mode.Passwords), new RegExp(`resolve:secretsmanager:",\\{"Ref":"${credentials.id}"\\},":SecretString:password::`));
    }
    // Ids are unique per account and region: two stacks must not collide.
    assert.match(JSON.stringify(userGroup.properties.UserGroupId), /AWS::StackId/);
  });

  test("is reachable only from the tasks' security group on its port", () => {
    const redisGroup = (group.properties.SecurityGroupIds as { "Fn::GetAtt": [string, string] }[])[0]!["Fn::GetAtt"][0];
    assert.equal(resources[redisGroup]?.Properties.SecurityGroupIngress, undefined, "no inline ingress");
    const ingress = Object.values(resources).filter((resource) =>
      resource.Type === "AWS::EC2::SecurityGroupIngress" && refersTo(resource.Properties.GroupId, redisGroup, "Fn::GetAtt"));
    assert.equal(ingress.length, 1);
    const rule = ingress[0]!.Properties;
    assert.equal(rule.FromPort, group.properties.Port);
    assert.equal(rule.ToPort, group.properties.Port);
    assert.equal(rule.CidrIp, undefined);
    const service = findOne(resources, "AWS::ECS::Service");
    const taskGroup = (service.properties.NetworkConfiguration as { AwsvpcConfiguration: { SecurityGroups: unknown[] } })
      .AwsvpcConfiguration.SecurityGroups[0];
    assert.deepEqual(rule.SourceSecurityGroupId, taskGroup);
  });
});

describe("event intake", () => {
  const queue = findOne(resources, "AWS::SQS::Queue", (queue) => queue.properties.RedrivePolicy !== undefined);
  const rule = findOne(resources, "AWS::Events::Rule");

  test("the queue hands failing messages to a dead-letter queue", () => {
    const redrive = queue.properties.RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
    assert.equal(redrive.maxReceiveCount, 5);
    const deadLetters = findOne(resources, "AWS::SQS::Queue", (other) => other.id !== queue.id);
    assert.ok(refersTo(redrive.deadLetterTargetArn, deadLetters.id, "Fn::GetAtt"));
  });

  test("an EventBridge rule on the default bus sends matching events to the queue", () => {
    assert.equal(rule.properties.EventBusName, "default");
    assert.deepEqual(rule.properties.EventPattern, DEFAULT_EVENT_PATTERN);
    const targets = rule.properties.Targets as { Arn: unknown }[];
    assert.equal(targets.length, 1);
    assert.ok(refersTo(targets[0]!.Arn, queue.id, "Fn::GetAtt"));
  });

  test("the queue policy lets events.amazonaws.com send from that rule only", () => {
    const policy = findOne(resources, "AWS::SQS::QueuePolicy", (policy) => refersTo(policy.properties.Queues, queue.id, "Ref"));
    const allows = statementsOf(policy.properties.PolicyDocument).filter((statement) => statement.Effect === "Allow");
    assert.equal(allows.length, 1);
    const [allow] = allows;
    assert.deepEqual(allow!.Principal, { Service: "events.amazonaws.com" });
    assert.ok([allow!.Action].flat().includes("sqs:SendMessage"));
    const condition = allow!.Condition as { ArnEquals: { "aws:SourceArn": unknown } };
    assert.ok(refersTo(condition.ArnEquals["aws:SourceArn"], rule.id, "Fn::GetAtt"));
  });
});

describe("permissions", () => {
  const taskDefinition = findOne(resources, "AWS::ECS::TaskDefinition");
  const roleId = (taskDefinition.properties.TaskRoleArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  const executionRoleId = (taskDefinition.properties.ExecutionRoleArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
  const policiesOf = (role: string) => Object.values(resources)
    .filter((resource) => resource.Type === "AWS::IAM::Policy" && refersTo(resource.Properties.Roles, role, "Ref"))
    .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument));

  test("the task role may only consume that one queue (and read its target's health: test/infra/ecs-drain.test.ts)", () => {
    const queue = findOne(resources, "AWS::SQS::Queue", (queue) => queue.properties.RedrivePolicy !== undefined);
    assert.equal(resources[roleId]?.Properties.ManagedPolicyArns, undefined);
    assert.equal(resources[roleId]?.Properties.Policies, undefined);
    const statements = policiesOf(roleId).filter((statement) => statement.Action !== "elasticloadbalancing:DescribeTargetHealth");
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    assert.deepEqual(new Set(actions), new Set([
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ]));
    for (const statement of statements) {
      assert.equal(statement.Effect, "Allow");
      for (const action of [statement.Action].flat()) assert.doesNotMatch(String(action), /\*/, "no wildcard action");
      assert.ok(!JSON.stringify(statement.Resource).includes("\"*\""), "no wildcard resource");
      assert.ok(refersTo(statement.Resource, queue.id, "Fn::GetAtt"));
    }
  });

  test("the signing key and the Valkey credentials are Secrets Manager secrets that only the execution role reads", () => {
    const signingKey = findOne(resources, "AWS::SecretsManager::Secret", (secret) => String(secret.properties.Description).includes("JWT_SECRET"));
    const valkey = findOne(resources, "AWS::SecretsManager::Secret", (secret) => String(secret.properties.Description).includes("REDIS_PASSWORD"));
    const secrets = new Map((container.Secrets as { Name: string; ValueFrom: unknown }[]).map(({ Name, ValueFrom }) => [Name, ValueFrom]));
    assert.deepEqual([...secrets.keys()].sort(), ["JWT_SECRET", "REDIS_PASSWORD", "REDIS_USERNAME"]);
    assert.ok(refersTo(secrets.get("JWT_SECRET"), signingKey.id, "Ref"));
    assert.match(JSON.stringify(secrets.get("REDIS_USERNAME")), new RegExp(`\\{"Ref":"${valkey.id}"\\},":username::"`));
    assert.match(JSON.stringify(secrets.get("REDIS_PASSWORD")), new RegExp(`\\{"Ref":"${valkey.id}"\\},":password::"`));
    const reads = policiesOf(executionRoleId).filter((statement) => [statement.Action].flat().some((action) => String(action).startsWith("secretsmanager:")));
    const readable = reads.map((statement) => JSON.stringify(statement.Resource));
    assert.ok(readable.every((resource) => resource.includes(signingKey.id) || resource.includes(valkey.id)), "no other secret");
    assert.ok(!policiesOf(roleId).some((statement) => JSON.stringify(statement).includes("secretsmanager")));
    for (const name of ["JWT_SECRET", "REDIS_USERNAME", "REDIS_PASSWORD"]) assert.ok(!environment.has(name), `${name} never sits in plain environment`);
    assert.doesNotMatch(JSON.stringify(environment.get("REDIS_URL")), /@/, "no credentials in REDIS_URL");
  });
});

describe("autoscaling and outputs", () => {
  const policies = Object.values(resources).filter((resource) => resource.Type === "AWS::ApplicationAutoScaling::ScalingPolicy");
  const configurationOf = (policy: Resource) => policy.Properties.TargetTrackingScalingPolicyConfiguration as Record<string, unknown>;

  test("tracks CPU", () => {
    const cpu = policies.find((policy) => JSON.stringify(configurationOf(policy)).includes("ECSServiceAverageCPUUtilization"));
    assert.ok(cpu, "a CPU target tracking policy");
    assert.ok(Number(configurationOf(cpu).TargetValue) > 0);
  });

  test("tracks the average OpenStreams per task that the gateway reports in EMF", () => {
    const streams = policies.find((policy) => JSON.stringify(configurationOf(policy)).includes("OpenStreams"));
    assert.ok(streams, "an OpenStreams target tracking policy");
    const metric = configurationOf(streams).CustomizedMetricSpecification as {
      MetricName: string; Namespace: unknown; Statistic: string; Dimensions: { Name: string; Value: unknown }[];
    };
    assert.equal(metric.MetricName, "OpenStreams");
    assert.equal(metric.Statistic, "Average");
    assert.deepEqual(metric.Namespace, environment.get("EMF_NAMESPACE"));
    assert.deepEqual(metric.Dimensions, [{ Name: "ServiceName", Value: environment.get("EMF_SERVICE_NAME") }]);
    assert.ok(Number(configurationOf(streams).TargetValue) > 0);
  });

  test("outputs the URL, the queue URL and the bus", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.match(JSON.stringify(outputs.Url?.Value), /https:\/\/.*DomainName/);
    const queue = findOne(resources, "AWS::SQS::Queue", (queue) => queue.properties.RedrivePolicy !== undefined);
    assert.ok(refersTo(outputs.QueueUrl?.Value, queue.id, "Ref"));
    assert.equal(outputs.EventBusName?.Value, "default");
  });
});
