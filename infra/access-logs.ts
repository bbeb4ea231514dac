import { Aws, CfnCondition, CfnMapping, Fn, Stack, aws_elasticloadbalancingv2 as elbv2, aws_iam as iam, aws_s3 as s3 } from "aws-cdk-lib";
import type { ICfnConditionExpression } from "aws-cdk-lib";
import { RegionInfo } from "aws-cdk-lib/region-info";

/** Regions opened since August 2022 have no ELB account: their load balancers write as this service. */
const LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com";
/** Fn::Or takes 2 to 10 conditions. */
const MAX_OR = 10;

/**
 * Turns on the load balancer's access logs to `bucket` under `prefix`. The CDK's own
 * logAccessLogs needs the region at synth time to pick who writes the logs; this stack is
 * region-agnostic, so the bucket policy chooses at deploy time: the region's ELB account in the
 * older regions, the log delivery service everywhere else (also in regions newer than the CDK).
 */
export function logAccessLogs(loadBalancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: string): void {
  loadBalancer.setAttribute("access_logs.s3.enabled", "true");
  loadBalancer.setAttribute("access_logs.s3.bucket", bucket.bucketName);
  loadBalancer.setAttribute("access_logs.s3.prefix", prefix);
  const result = bucket.addToResourcePolicy(new iam.PolicyStatement({
    actions: ["s3:PutObject"],
    principals: [new LoadBalancerLogWriter(Stack.of(loadBalancer))],
    resources: [bucket.arnForObjects(`${prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`)],
  }));
  // The load balancer checks that it may write when the attribute is set: the policy comes first.
  if (result.policyDependable) loadBalancer.node.addDependency(result.policyDependable);
}

class LoadBalancerLogWriter extends iam.PrincipalBase {
  readonly policyFragment: iam.PrincipalPolicyFragment;

  constructor(stack: Stack) {
    super();
    const accounts = new Map(RegionInfo.regions.flatMap((region) => {
      const account = region.elbv2Account;
      return account === undefined ? [] : [[region.name, account] as const];
    }));
    const mapping = new CfnMapping(stack, "ElbLogAccounts", {
      mapping: Object.fromEntries([...accounts].map(([region, account]) => [region, { account }])),
    });
    const hasAccount = new CfnCondition(stack, "RegionHasElbLogAccount", { expression: anyOf([...accounts.keys()]) });
    const accountRoot = Fn.join("", ["arn:", Aws.PARTITION, ":iam::", mapping.findInMap(Aws.REGION, "account"), ":root"]);
    this.policyFragment = new iam.PrincipalPolicyFragment({
      AWS: [Fn.conditionIf(hasAccount.logicalId, accountRoot, Aws.NO_VALUE).toString()],
      Service: [Fn.conditionIf(hasAccount.logicalId, Aws.NO_VALUE, LOG_DELIVERY_SERVICE).toString()],
    });
  }

  dedupeString(): string | undefined {
    return undefined;
  }

  override toString(): string {
    return "LoadBalancerLogWriter";
  }
}

/** AWS::Region equals one of the regions, as nested Fn::Or of at most ten conditions each. */
function anyOf(regions: readonly string[]): ICfnConditionExpression {
  let conditions: ICfnConditionExpression[] = regions.map((region) => Fn.conditionEquals(Aws.REGION, region));
  while (conditions.length > 1) {
    const groups = Math.ceil(conditions.length / MAX_OR);
    const size = Math.ceil(conditions.length / groups);
    const next: ICfnConditionExpression[] = [];
    for (let start = 0; start < conditions.length; start += size) {
      const group = conditions.slice(start, start + size);
      next.push(group.length === 1 ? group[0]! : Fn.conditionOr(...group));
    }
    conditions = next;
  }
  return conditions[0]!;
}
