import { aws_iam as iam } from "aws-cdk-lib";
import { LAMBDA_FUNCTION_ARN } from "../src/config/authorizer-config.ts";

/** Who decides for subscribers without a JWT: the application's webhook, or its Lambda authorizer. */
export type SubscriberAuthorizer = { readonly kind: "webhook"; readonly url: string } | { readonly kind: "lambda"; readonly functionArn: string };

/** From the authWebhookUrl or authLambdaArn context (one at most). */
export function subscriberAuthorizerFrom(webhookUrl: string | undefined, functionArn: string | undefined): SubscriberAuthorizer | undefined {
  if (webhookUrl !== undefined && functionArn !== undefined) throw new Error("context authWebhookUrl and authLambdaArn exclude each other: one authorizer decides");
  if (webhookUrl !== undefined) {
    if (!/^https?:\/\/[^/@]+(\/|$)/.test(webhookUrl)) throw new Error(`context authWebhookUrl must be an http(s) URL without user:password, not "${webhookUrl}"`);
    return { kind: "webhook", url: webhookUrl };
  }
  if (functionArn === undefined) return undefined;
  if (!LAMBDA_FUNCTION_ARN.test(functionArn)) throw new Error(`context authLambdaArn must be a Lambda function ARN, not "${functionArn}"`);
  return { kind: "lambda", functionArn };
}

/** The gateway's variable for the authorizer. */
export function authorizerEnvironment(authorizer: SubscriberAuthorizer | undefined): Record<string, string> {
  if (authorizer === undefined) return {};
  return authorizer.kind === "webhook" ? { AUTH_WEBHOOK_URL: authorizer.url } : { AUTH_LAMBDA_ARN: authorizer.functionArn };
}

/** A Lambda authorizer may be invoked by the task role: that function only, nothing else of Lambda. */
export function grantAuthorizerInvoke(taskRole: iam.IRole, authorizer: SubscriberAuthorizer | undefined): void {
  if (authorizer?.kind !== "lambda") return;
  taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: [authorizer.functionArn] }));
}
