import { Aws, Fn, Validations, aws_ec2 as ec2, aws_ecs as ecs, aws_elasticache as elasticache, aws_secretsmanager as secretsmanager } from "aws-cdk-lib";
import { Construct } from "constructs";

export interface RedisClusterProps {
  readonly vpc: ec2.IVpc;
  /** e.g. cache.t4g.micro: the gateway keeps only short history and pub/sub traffic in Redis. */
  readonly nodeType: string;
}

const REDIS_PORT = 6379;
/** REDIS_KEY_PREFIX of the tasks: the gateway's keys and pub/sub channels all start with it. */
export const KEY_PREFIX = "sse:";
export const GATEWAY_USERNAME = "sse-gateway";
/**
 * What the gateway's user may do: any command but the dangerous ones (FLUSHALL, KEYS, CONFIG,
 * DEBUG, ...), plus INFO, which the client's ready check sends, on its own keys and channels only.
 */
export const GATEWAY_ACCESS_STRING = `on ~${KEY_PREFIX}* &${KEY_PREFIX}* +@all -@dangerous +info`;

/**
 * A Valkey primary with one replica in another AZ and automatic failover, TLS only. The gateway
 * needs one primary endpoint (pub/sub and history live together), so cluster mode stays off.
 */
export class RedisCluster extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** rediss:// URL of the primary endpoint; it follows the primary across a failover. */
  readonly url: string;
  /** The gateway's Valkey user: {"username", "password"}, the password generated at deploy time. */
  readonly credentials: secretsmanager.Secret;
  /** REDIS_USERNAME and REDIS_PASSWORD for the task, read from the secret when a task starts. */
  readonly secrets: Record<string, ecs.Secret>;
  /** The gateway's ElastiCache user, whose passwords a rotation changes. */
  readonly gatewayUser: { readonly userId: string; readonly userArn: string };

  constructor(scope: Construct, id: string, props: RedisClusterProps) {
    super(scope, id);
    this.credentials = new secretsmanager.Secret(this, "Credentials", {
      description: "Valkey user of the SSE gateway (REDIS_USERNAME, REDIS_PASSWORD)",
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: GATEWAY_USERNAME }),
        generateStringKey: "password",
        // ElastiCache passwords: 16 to 128 printable characters, some punctuation refused.
        passwordLength: 64,
        excludePunctuation: true,
      },
    });
    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc: props.vpc,
      description: "Valkey of the SSE gateway: reachable from the gateway tasks only",
      allowAllOutbound: false,
    });
    const subnetGroup = new elasticache.CfnSubnetGroup(this, "Subnets", {
      description: "Private subnets of the SSE gateway's Valkey",
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });
    const { users, gatewayUser } = this.userGroup();
    this.gatewayUser = { userId: gatewayUser.userId, userArn: gatewayUser.attrArn };
    const group = new elasticache.CfnReplicationGroup(this, "ReplicationGroup", {
      replicationGroupDescription: "SSE gateway fan-out and short event history",
      engine: "valkey",
      engineVersion: "8.0",
      cacheNodeType: props.nodeType,
      numCacheClusters: 2,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      transitEncryptionEnabled: true,
      transitEncryptionMode: "required",
      atRestEncryptionEnabled: true,
      port: REDIS_PORT,
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [this.securityGroup.securityGroupId],
      userGroupIds: [users.userGroupId],
    });
    group.node.addDependency(users);
    this.url = `rediss://${group.attrPrimaryEndPointAddress}:${group.attrPrimaryEndPointPort}`;
    this.secrets = {
      REDIS_USERNAME: ecs.Secret.fromSecretsManager(this.credentials, "username"),
      REDIS_PASSWORD: ecs.Secret.fromSecretsManager(this.credentials, "password"),
    };
    Validations.of(group).acknowledge({
      id: "AwsSolutions-AEC6",
      reason: "Access is by user (RBAC): a user group with the gateway's own user, whose password is in Secrets Manager, and the default user turned off. The rule only looks for the older shared AUTH token.",
    });
  }

  /**
   * The users of the cache: the gateway's, and "default" turned off so that a connection that
   * does not log in can do nothing. User and group ids are unique per account and region, so
   * they carry a piece of the stack id.
   */
  private userGroup(): { users: elasticache.CfnUserGroup; gatewayUser: elasticache.CfnUser } {
    const suffix = Fn.select(0, Fn.split("-", Fn.select(2, Fn.split("/", Aws.STACK_ID))));
    const password = this.credentials.secretValueFromJson("password").unsafeUnwrap();
    const gateway = new elasticache.CfnUser(this, "GatewayUser", {
      engine: "valkey",
      userId: Fn.join("-", ["sse-gateway", suffix]),
      userName: GATEWAY_USERNAME,
      accessString: GATEWAY_ACCESS_STRING,
      authenticationMode: { Type: "password", Passwords: [password] },
    });
    // A Valkey user group holds only users with a password; this one can never log in ("off").
    const disabledDefault = new elasticache.CfnUser(this, "DefaultUser", {
      engine: "valkey",
      userId: Fn.join("-", ["sse-default", suffix]),
      userName: "default",
      accessString: "off -@all",
      authenticationMode: { Type: "password", Passwords: [password] },
    });
    // Ids, not Refs: what Ref of these types returns is not the id in every reading of the docs.
    const users = new elasticache.CfnUserGroup(this, "Users", {
      engine: "valkey",
      userGroupId: Fn.join("-", ["sse-gateway", suffix]),
      userIds: [gateway.userId, disabledDefault.userId],
    });
    users.node.addDependency(gateway);
    users.node.addDependency(disabledDefault);
    return { users, gatewayUser: gateway };
  }

  allowFrom(peer: ec2.IConnectable): void {
    this.securityGroup.connections.allowFrom(peer, ec2.Port.tcp(REDIS_PORT), "Gateway tasks to Valkey");
  }
}
