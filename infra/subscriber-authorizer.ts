import { aws_iam as iam } from "aws-cdk-lib";
import { ANSWER_PATH, LAMBDA_FUNCTION_ARN } from "../src/config/authorizer-config.ts";
import { SettingsError } from "./settings-error.ts";

/** Who decides for subscribers without a JWT: the application's webhook, or its Lambda authorizer. */
export type SubscriberAuthorizer =
  | { readonly kind: "webhook"; readonly url: string }
  | { readonly kind: "lambda"; readonly functionArn: string; readonly userIdKey?: string; readonly topicsKey?: string };

export interface AuthorizerContext {
  readonly webhookUrl?: string;
  readonly functionArn?: string;
  readonly userIdKey?: string;
  readonly topicsKey?: string;
}

/** From the authWebhookUrl or authLambdaArn context (one at most), with authLambdaUserIdKey and authLambdaTopicsKey. */
export function subscriberAuthorizerFrom(context: AuthorizerContext): SubscriberAuthorizer | undefined {
  const { webhookUrl, functionArn, userIdKey, topicsKey } = context;
  if (webhookUrl !== undefined && functionArn !== undefined) throw new SettingsError("context authWebhookUrl and authLambdaArn exclude each other: one authorizer decides");
  if (functionArn === undefined && (userIdKey !== undefined || topicsKey !== undefined)) {
    throw new SettingsError("context authLambdaUserIdKey and authLambdaTopicsKey go with authLambdaArn");
  }
  if (webhookUrl !== undefined) {
    if (!/^https?:\/\/[^/@]+(\/|$)/.test(webhookUrl)) throw new SettingsError(`context authWebhookUrl must be an http(s) URL without user:password, not "${webhookUrl}"`);
    return { kind: "webhook", url: webhookUrl };
  }
  if (functionArn === undefined) return undefined;
  if (!LAMBDA_FUNCTION_ARN.test(functionArn)) throw new SettingsError(`context authLambdaArn must be a Lambda function ARN, not "${functionArn}"`);
  for (const [name, path] of [["authLambdaUserIdKey", userIdKey], ["authLambdaTopicsKey", topicsKey]] as const) {
    if (path !== undefined && !ANSWER_PATH.test(path)) throw new SettingsError(`context ${name} must be a dotted key path like context.userId, not "${path}"`);
  }
  return { kind: "lambda", functionArn, userIdKey, topicsKey };
}

/** The gateway's variable for the authorizer. */
export function authorizerEnvironment(authorizer: SubscriberAuthorizer | undefined): Record<string, string> {
  if (authorizer === undefined) return {};
  if (authorizer.kind === "webhook") return { AUTH_WEBHOOK_URL: authorizer.url };
  return {
    AUTH_LAMBDA_ARN: authorizer.functionArn,
    ...(authorizer.userIdKey !== undefined ? { AUTH_LAMBDA_USER_ID_KEY: authorizer.userIdKey } : {}),
    ...(authorizer.topicsKey !== undefined ? { AUTH_LAMBDA_TOPICS_KEY: authorizer.topicsKey } : {}),
  };
}

/** A Lambda authorizer may be invoked by the task role: that function only, nothing else of Lambda. */
export function grantAuthorizerInvoke(taskRole: iam.IRole, authorizer: SubscriberAuthorizer | undefined): void {
  if (authorizer?.kind !== "lambda") return;
  taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: [authorizer.functionArn] }));
}
