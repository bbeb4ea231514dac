import { Duration, RemovalPolicy, Validations, aws_s3 as s3 } from "aws-cdk-lib";
import { Construct } from "constructs";

export interface AuditLogsProps {
  /** Days a log object is kept before S3 deletes it. */
  readonly retentionDays: number;
}

/**
 * The bucket for the load balancer's access logs and the VPC's flow logs: encrypted, private,
 * TLS only, and emptied of old objects by a lifecycle rule so it never grows without bound.
 */
export class AuditLogs extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AuditLogsProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, "Bucket", {
      // ALB access logs can only be written to a bucket encrypted with S3-managed keys.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{
        id: "expire-logs",
        expiration: Duration.days(props.retentionDays),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      }],
      // Logs are evidence: deleting the stack leaves them for their retention.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: "AwsSolutions-S1",
      reason: "This bucket is the log bucket itself: access logs of it would have to go to yet another bucket, without end.",
    });
  }
}
