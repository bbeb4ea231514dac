import { CfnOutput, CfnParameter, Duration, Stack, Validations, aws_ec2 as ec2, aws_events as events, aws_iam as iam, aws_logs as logs } from "aws-cdk-lib";
import type { StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { AuditLogs } from "./audit-logs.ts";
import { drainTimingFor } from "./drain-timing.ts";
import { EventIntake } from "./event-intake.ts";
import { GatewayService } from "./gateway-service.ts";
import { JwtSettings } from "./jwt-settings.ts";
import type { JwtConfiguration } from "./jwt-settings.ts";
import { KEY_PREFIX, RedisCluster } from "./redis-cluster.ts";
import { authorizerEnvironment, grantAuthorizerInvoke, type SubscriberAuthorizer } from "./subscriber-authorizer.ts";
import { SecretRotation } from "./secret-rotation.ts";
import { SettingsError } from "./settings-error.ts";

export interface GatewayStackProps extends StackProps {
  /** Directory holding the gateway's Dockerfile (the repository root). */
  readonly imageDirectory: string;
  /** ACM certificate of the HTTPS listener; a CloudFormation parameter when left out. */
  readonly certificateArn?: string;
  /** Public host name browsers use (a DNS record to the load balancer is yours to make); a parameter when left out. */
  readonly domainName?: string;
  readonly eventBusName: string;
  readonly eventPattern: events.EventPattern;
  readonly jwt: JwtConfiguration;
  /** AUTH_WEBHOOK_URL or AUTH_LAMBDA_ARN of the gateway, when the application's own sessions admit subscribers. */
  readonly authorizer?: SubscriberAuthorizer;
  /** CORS_ORIGINS of the gateway, when pages of other origins open streams. */
  readonly corsOrigins: readonly string[];
  /** 1 keeps cost down; 2 keeps egress (SQS, JWKS) alive when one AZ fails. */
  readonly natGateways: number;
  readonly minTasks: number;
  readonly maxTasks: number;
  readonly streamsPerTask: number;
  readonly cpuTargetPercent: number;
  readonly taskCpu: number;
  readonly taskMemoryMiB: number;
  readonly redisNodeType: string;
  readonly shutdownGrace: Duration;
  readonly heartbeatInterval: Duration;
  readonly metricsNamespace: string;
  readonly maxReceiveCount: number;
  readonly logRetention: logs.RetentionDays;
  /** VPC flow logs (all traffic, to the log bucket); off saves their delivery and storage cost. */
  readonly vpcFlowLogs: boolean;
  /** CloudWatch Container Insights on the cluster; off saves its metric cost. */
  readonly containerInsights: boolean;
  /** How often the generated secrets (JWT key, Valkey password) are rotated. */
  readonly secretRotation: Duration;
}

/** Everything one gateway deployment needs: network, Valkey, event intake, service and its front door. */
export class GatewayStack extends Stack {
  constructor(scope: Construct, id: string, props: GatewayStackProps) {
    super(scope, id, props);
    if (props.minTasks < 2) throw new SettingsError("context minTasks must be at least 2: one task per AZ");
    const certificateArn = props.certificateArn ?? new CfnParameter(this, "CertificateArn", {
      type: "String",
      allowedPattern: "arn:aws[a-z-]*:acm:.+",
      description: "ACM certificate ARN for the HTTPS listener (same region as the stack)",
    }).valueAsString;
    const domainName = props.domainName ?? new CfnParameter(this, "DomainName", {
      type: "String",
      minLength: 1,
      description: "Host name browsers use, covered by the certificate",
    }).valueAsString;

    const vpc = new ec2.Vpc(this, "Network", {
      maxAzs: 2,
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: "private", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // Image layers come from S3: a free gateway endpoint keeps them off the NAT's per-GB bill.
      gatewayEndpoints: { S3: { service: ec2.GatewayVpcEndpointAwsService.S3 } },
    });
    const auditLogs = new AuditLogs(this, "AuditLogs", { retentionDays: props.logRetention });
    this.recordFlowLogs(vpc, auditLogs, props.vpcFlowLogs);
    const redis = new RedisCluster(this, "Redis", { vpc, nodeType: props.redisNodeType });
    const intake = new EventIntake(this, "Intake", {
      eventBusName: props.eventBusName,
      eventPattern: props.eventPattern,
      maxReceiveCount: props.maxReceiveCount,
    });
    const jwt = new JwtSettings(this, "Jwt", props.jwt);
    const gateway = new GatewayService(this, "Gateway", {
      vpc,
      imageDirectory: props.imageDirectory,
      certificateArn,
      environment: {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: KEY_PREFIX,
        SQS_QUEUE_URL: intake.queue.queueUrl,
        AWS_REGION: this.region,
        ...(props.corsOrigins.length > 0 ? { CORS_ORIGINS: props.corsOrigins.join(",") } : {}),
        ...jwt.environment,
        ...authorizerEnvironment(props.authorizer),
        ...(jwt.generated ? { MAX_TOKEN_LIFETIME_S: String(maxTokenLifetimeFor(props.secretRotation).toSeconds()) } : {}),
      },
      secrets: { ...redis.secrets, ...jwt.secrets },
      drain: drainTimingFor(props.shutdownGrace),
      heartbeatInterval: props.heartbeatInterval,
      metricsNamespace: props.metricsNamespace,
      metricsServiceName: this.stackName,
      cpu: props.taskCpu,
      memoryLimitMiB: props.taskMemoryMiB,
      minTasks: props.minTasks,
      maxTasks: props.maxTasks,
      streamsPerTask: props.streamsPerTask,
      cpuTargetPercent: props.cpuTargetPercent,
      logRetention: props.logRetention,
      accessLogs: auditLogs.bucket,
      containerInsights: props.containerInsights,
    });
    redis.allowFrom(gateway.service);
    const rotation = { service: gateway.service, every: props.secretRotation, logRetention: props.logRetention };
    new SecretRotation(this, "ValkeyPasswordRotation", { secret: redis.credentials, rotated: { kind: "valkey-user", ...redis.gatewayUser }, ...rotation });
    if (jwt.generated && jwt.secret) {
      new SecretRotation(this, "JwtKeyRotation", { secret: jwt.secret, rotated: { kind: "signing-key-list" }, ...rotation });
    }
    // Exactly what a consumer does: no GetQueueUrl (the URL is given), no SendMessage, no other queue.
    gateway.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
      resources: [intake.queue.queueArn],
    }));
    grantAuthorizerInvoke(gateway.taskRole, props.authorizer);

    new CfnOutput(this, "Url", { value: `https://${domainName}/`, description: "Gateway URL (point the domain at LoadBalancerDns)" });
    new CfnOutput(this, "LoadBalancerDns", { value: gateway.loadBalancer.loadBalancerDnsName, description: "CNAME or alias target for the domain" });
    new CfnOutput(this, "QueueUrl", { value: intake.queue.queueUrl });
    new CfnOutput(this, "DeadLetterQueueUrl", { value: intake.deadLetterQueue.queueUrl });
    new CfnOutput(this, "EventBusName", { value: props.eventBusName, description: "Bus whose matching events reach browsers" });
    new CfnOutput(this, "LogBucket", { value: auditLogs.bucket.bucketName, description: "Load balancer access logs and VPC flow logs" });
  }

  private recordFlowLogs(vpc: ec2.Vpc, auditLogs: AuditLogs, enabled: boolean): void {
    if (enabled) {
      vpc.addFlowLog("FlowLogs", {
        destination: ec2.FlowLogDestination.toS3(auditLogs.bucket, "vpc-flow-logs/"),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
      return;
    }
    Validations.of(vpc).acknowledge({
      id: "AwsSolutions-VPC7",
      reason: "VPC flow logs turned off with the vpcFlowLogs=false context, to save their delivery and storage cost.",
    });
  }
}

/**
 * A token signed before a rotation must expire before the rotation after next drops its key
 * (infra/rotation/signing-key-list.ts); half the interval leaves room for a late schedule.
 */
export function maxTokenLifetimeFor(rotationInterval: Duration): Duration {
  return Duration.seconds(Math.floor(rotationInterval.toSeconds() / 2));
}
