import { aws_ec2 as ec2, aws_elasticache as elasticache } from "aws-cdk-lib";
import { Construct } from "constructs";

export interface RedisClusterProps {
  readonly vpc: ec2.IVpc;
  /** e.g. cache.t4g.micro: the gateway keeps only short history and pub/sub traffic in Redis. */
  readonly nodeType: string;
}

const REDIS_PORT = 6379;

/**
 * A Valkey primary with one replica in another AZ and automatic failover, TLS only. The gateway
 * needs one primary endpoint (pub/sub and history live together), so cluster mode stays off.
 */
export class RedisCluster extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** rediss:// URL of the primary endpoint; it follows the primary across a failover. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: RedisClusterProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, "SecurityGroup", {
      vpc: props.vpc,
      description: "Valkey of the SSE gateway: reachable from the gateway tasks only",
      allowAllOutbound: false,
    });
    const subnetGroup = new elasticache.CfnSubnetGroup(this, "Subnets", {
      description: "Private subnets of the SSE gateway's Valkey",
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });
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
    });
    this.url = `rediss://${group.attrPrimaryEndPointAddress}:${group.attrPrimaryEndPointPort}`;
  }

  allowFrom(peer: ec2.IConnectable): void {
    this.securityGroup.connections.allowFrom(peer, ec2.Port.tcp(REDIS_PORT), "Gateway tasks to Valkey");
  }
}
