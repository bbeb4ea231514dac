import { fileURLToPath } from "node:url";
import { Duration, Validations, aws_ecs as ecs, aws_iam as iam, aws_lambda as lambda, aws_logs as logs, aws_secretsmanager as secretsmanager } from "aws-cdk-lib";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { Construct } from "constructs";

const HANDLER = fileURLToPath(new URL("./rotation/handler.ts", import.meta.url));
const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

export type RotatedSecret =
  | { readonly kind: "signing-key-list" }
  /** The ElastiCache user whose passwords follow the secret. */
  | { readonly kind: "valkey-user"; readonly userId: string; readonly userArn: string };

export interface SecretRotationProps {
  readonly secret: secretsmanager.ISecret;
  readonly rotated: RotatedSecret;
  /** Replaced after each rotation, so its tasks read the new value. */
  readonly service: ecs.FargateService;
  readonly every: Duration;
  readonly logRetention: logs.RetentionDays;
}

/**
 * Automatic rotation of one secret by a function of our own (infra/rotation/): Secrets Manager
 * calls it on the schedule, it writes the next value, lets the backend accept it next to the
 * current one, promotes it, and redeploys the service. No stream is cut for want of a key: the
 * old value keeps working until the tasks that hold it are gone.
 */
export class SecretRotation extends Construct {
  constructor(scope: Construct, id: string, props: SecretRotationProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, "Logs", { retention: props.logRetention });
    // An own role rather than the managed AWSLambdaBasicExecutionRole: it writes this log group only.
    const role = new iam.Role(this, "Role", { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com") });
    logGroup.grantWrite(role);
    const rotator = new NodejsFunction(this, "Function", {
      entry: HANDLER,
      projectRoot: REPOSITORY_ROOT,
      depsLockFilePath: `${REPOSITORY_ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      // testSecret of the Valkey user waits up to two minutes for ElastiCache to apply a change.
      timeout: Duration.minutes(5),
      role,
      logGroup,
      environment: {
        ROTATION_KIND: props.rotated.kind,
        CLUSTER_ARN: props.service.cluster.clusterArn,
        SERVICE_NAME: props.service.serviceName,
        ...(props.rotated.kind === "valkey-user" ? { VALKEY_USER_ID: props.rotated.userId } : {}),
      },
      bundling: {
        format: OutputFormat.ESM,
        target: "node24",
        // The Lambda runtime provides AWS SDK v3.
        externalModules: ["@aws-sdk/*"],
        minify: true,
        sourceMap: false,
      },
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ["ecs:UpdateService"], resources: [props.service.serviceArn] }));
    if (props.rotated.kind === "valkey-user") {
      role.addToPolicy(new iam.PolicyStatement({ actions: ["elasticache:ModifyUser", "elasticache:DescribeUsers"], resources: [props.rotated.userArn] }));
    }
    props.secret.addRotationSchedule("Schedule", {
      rotationLambda: rotator,
      automaticallyAfter: props.every,
      // The first rotation comes on schedule, not in the middle of the first deployment.
      rotateImmediatelyOnUpdate: false,
    });
    Validations.of(role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "secretsmanager:GetRandomPassword, which the CDK's rotation schedule grants, has no resource-level permissions; the function itself makes its values with node:crypto.",
    });
  }
}
