import {
  Duration,
  Size,
  Validations,
  Stack,
  aws_certificatemanager as acm,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecr_assets as ecrAssets,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_logs as logs,
  aws_s3 as s3,
} from "aws-cdk-lib";
import { Construct } from "constructs";
import { logAccessLogs } from "./access-logs.ts";
import { LOAD_BALANCER_IDLE_TIMEOUT, checkHeartbeatInterval } from "./deployment-settings.ts";
import type { DrainTiming } from "./drain-timing.ts";

export interface GatewayServiceProps {
  readonly vpc: ec2.IVpc;
  /** Directory holding the Dockerfile of the gateway. */
  readonly imageDirectory: string;
  readonly certificateArn: string;
  /** Gateway settings (REDIS_URL, SQS_QUEUE_URL, ...) added to the fixed production ones. */
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
  readonly drain: DrainTiming;
  readonly heartbeatInterval: Duration;
  /** CloudWatch namespace the gateway writes its EMF metrics to (EMF_NAMESPACE). */
  readonly metricsNamespace: string;
  /** Value of the ServiceName dimension of those metrics (EMF_SERVICE_NAME). */
  readonly metricsServiceName: string;
  readonly cpu: number;
  readonly memoryLimitMiB: number;
  readonly minTasks: number;
  readonly maxTasks: number;
  /** Target of the average OpenStreams per task; more tasks start above it. */
  readonly streamsPerTask: number;
  readonly cpuTargetPercent: number;
  readonly logRetention: logs.RetentionDays;
  /** Bucket the load balancer writes its access logs to (under `load-balancer/`). */
  readonly accessLogs: s3.IBucket;
  /** CloudWatch Container Insights on the cluster: per-task CPU, memory and network metrics. */
  readonly containerInsights: boolean;
}

const CONTAINER_PORT = 8080;
/** Many open streams need many descriptors; the Fargate default of 1024 would cap them. */
const OPEN_FILES = 65536;
/** Build inputs that never go into the image: keeps asset staging and its hash small and stable. */
const IMAGE_EXCLUDES = [".git", "node_modules", "cdk.out", "cdk.json", "artifacts", "tmp", "test", "bench", "infra", ".ci"];

/** The gateway on Fargate behind an HTTPS Application Load Balancer, scaled on CPU and streams. */
export class GatewayService extends Construct {
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly taskRole: iam.IRole;

  constructor(scope: Construct, id: string, props: GatewayServiceProps) {
    super(scope, id);
    checkHeartbeatInterval(props.heartbeatInterval);
    const taskDefinition = this.taskDefinition(props);
    this.taskRole = taskDefinition.taskRole;
    const cluster = new ecs.Cluster(this, "Cluster", {
      vpc: props.vpc,
      containerInsightsV2: props.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    if (!props.containerInsights) {
      Validations.of(cluster).acknowledge({
        id: "AwsSolutions-ECS4",
        reason: "Container Insights turned off with the containerInsights=false context, to save its metric cost.",
      });
    }
    this.service = new ecs.FargateService(this, "Service", {
      cluster,
      taskDefinition,
      desiredCount: props.minTasks,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
      healthCheckGracePeriod: Duration.seconds(30),
    });
    const { loadBalancer, targetGroup } = this.loadBalancerFor(props);
    this.loadBalancer = loadBalancer;
    this.watchOwnTarget(taskDefinition, targetGroup, props.drain);
    this.autoscale(props);
  }

  private taskDefinition(props: GatewayServiceProps): ecs.FargateTaskDefinition {
    const taskDefinition = new ecs.FargateTaskDefinition(this, "Task", {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryLimitMiB,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
      },
    });
    const logGroup = new logs.LogGroup(this, "Logs", { retention: props.logRetention });
    taskDefinition.addContainer("gateway", {
      image: ecs.ContainerImage.fromAsset(props.imageDirectory, {
        exclude: IMAGE_EXCLUDES,
        platform: ecrAssets.Platform.LINUX_AMD64,
      }),
      environment: {
        NODE_ENV: "production",
        HOST: "0.0.0.0",
        PORT: String(CONTAINER_PORT),
        SHUTDOWN_GRACE_MS: String(props.drain.shutdownGrace.toMilliseconds()),
        HEARTBEAT_INTERVAL_MS: String(props.heartbeatInterval.toMilliseconds()),
        EMF_NAMESPACE: props.metricsNamespace,
        EMF_SERVICE_NAME: props.metricsServiceName,
        ...props.environment,
      },
      secrets: props.secrets,
      portMappings: [{ containerPort: CONTAINER_PORT, name: "http" }],
      stopTimeout: props.drain.stopTimeout,
      ulimits: [{ name: ecs.UlimitName.NOFILE, softLimit: OPEN_FILES, hardLimit: OPEN_FILES }],
      logging: ecs.LogDrivers.awsLogs({
        logGroup,
        streamPrefix: "gateway",
        // A slow log pipe must never stall the event loop that feeds every stream.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    Validations.of(taskDefinition).acknowledge({
      id: "AwsSolutions-ECS2",
      reason: "Only settings that are not secret (port, timeouts, queue URL, Valkey endpoint, metric names) are plain environment; the JWT key and the Valkey user's name and password come from Secrets Manager as ECS secrets.",
    });
    Validations.of(taskDefinition.obtainExecutionRole()).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ecr:GetAuthorizationToken has no resource-level permissions and must be granted on *; image pulls are limited to the image's own repository.",
    });
    return taskDefinition;
  }

  private loadBalancerFor(props: GatewayServiceProps): { loadBalancer: elbv2.ApplicationLoadBalancer; targetGroup: elbv2.ApplicationTargetGroup } {
    const loadBalancer = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc: props.vpc,
      internetFacing: true,
      http2Enabled: true,
      idleTimeout: LOAD_BALANCER_IDLE_TIMEOUT,
      dropInvalidHeaderFields: true,
    });
    Validations.of(loadBalancer.connections.securityGroups[0]!).acknowledge({
      id: "AwsSolutions-EC23",
      reason: "The internet-facing load balancer serves browsers anywhere: 443 for HTTPS, and 80 only to redirect to 443.",
    });
    logAccessLogs(loadBalancer, props.accessLogs, "load-balancer");
    loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443 });
    const https = loadBalancer.addListener("Https", {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [acm.Certificate.fromCertificateArn(this, "Certificate", props.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
    });
    const targetGroup = https.addTargets("Gateway", {
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service],
      deregistrationDelay: props.drain.deregistrationDelay,
      // /healthz fails only on a task that is leaving, never on a backend outage every task shares:
      // ECS replaces tasks whose target is unhealthy, which would cut every stream for nothing.
      healthCheck: {
        path: "/healthz",
        healthyHttpCodes: "200",
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    return { loadBalancer, targetGroup };
  }

  /**
   * The gateway watches its own target to start its drain when the target turns draining
   * (see drain-timing.ts): it needs the target group, the delay, and leave to ask for the health.
   */
  private watchOwnTarget(taskDefinition: ecs.FargateTaskDefinition, targetGroup: elbv2.ApplicationTargetGroup, drain: DrainTiming): void {
    const container = taskDefinition.defaultContainer!;
    container.addEnvironment("TARGET_GROUP_ARN", targetGroup.targetGroupArn);
    container.addEnvironment("DEREGISTRATION_DELAY_MS", String(drain.deregistrationDelay.toMilliseconds()));
    container.addEnvironment("TARGET_HEALTH_POLL_MS", String(drain.targetHealthPoll.toMilliseconds()));
    // Describe* calls of Elastic Load Balancing take no resource-level permissions: the action
    // is named alone, on "*", and held to this stack's region.
    taskDefinition.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ["elasticloadbalancing:DescribeTargetHealth"],
      resources: ["*"],
      conditions: { StringEquals: { "aws:RequestedRegion": Stack.of(this).region } },
    }));
    Validations.of(taskDefinition.taskRole).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "elasticloadbalancing:DescribeTargetHealth takes no resource-level permissions and must be granted on *; the statement names that one read-only action and holds it to the stack's region.",
    });
  }

  private autoscale(props: GatewayServiceProps): void {
    const capacity = this.service.autoScaleTaskCount({ minCapacity: props.minTasks, maxCapacity: props.maxTasks });
    // Scaling in cuts streams (browsers reconnect elsewhere), so it waits longer than scaling out.
    const cooldowns = { scaleOutCooldown: Duration.seconds(60), scaleInCooldown: Duration.minutes(5) };
    capacity.scaleOnCpuUtilization("Cpu", { targetUtilizationPercent: props.cpuTargetPercent, ...cooldowns });
    capacity.scaleToTrackCustomMetric("OpenStreams", {
      metric: new cloudwatch.Metric({
        namespace: props.metricsNamespace,
        metricName: "OpenStreams",
        dimensionsMap: { ServiceName: props.metricsServiceName },
        statistic: cloudwatch.Stats.AVERAGE,
        period: Duration.minutes(1),
      }),
      targetValue: props.streamsPerTask,
      ...cooldowns,
    });
  }
}
