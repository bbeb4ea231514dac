import { ConfigError, type EnvReader } from "./env-reader.ts";

/** How long decisions are kept and how long a call may take; the AUTH_WEBHOOK_ names serve both authorizers. */
interface AuthorizerLimits {
  readonly cacheSeconds: number;
  readonly timeoutMs: number;
}

export type AuthorizerConfig =
  | (AuthorizerLimits & { readonly kind: "webhook"; readonly url: URL })
  | (AuthorizerLimits & {
      readonly kind: "lambda";
      readonly functionArn: string;
      /** The function's region, read from its ARN. */
      readonly region: string;
      /** A Lambda-compatible endpoint (an emulator); unset means AWS's own. */
      readonly endpoint?: string;
      /** Dotted path in the authorizer's answer to the user id, e.g. principalId or context.userId. */
      readonly userIdKey: string;
      /** Dotted path to the allowed topic patterns (a comma list or a JSON array). */
      readonly topicsKey: string;
    });

/** A Lambda function ARN, with an optional version or alias; the first group is its region. */
export const LAMBDA_FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?$/;
/** A dotted key path into a Lambda authorizer's answer, like context.userId. */
export const ANSWER_PATH = /^[A-Za-z0-9_$:-]+(?:\.[A-Za-z0-9_$:-]+)*$/;

/** The subscriber authorizer, if one is set: AUTH_WEBHOOK_URL or AUTH_LAMBDA_ARN (not both). */
export function readAuthorizer(read: EnvReader): AuthorizerConfig | undefined {
  const url = read.url("AUTH_WEBHOOK_URL", ["https:", "http:"]);
  const functionArn = read.string("AUTH_LAMBDA_ARN");
  if (url !== undefined && functionArn !== undefined) {
    throw new ConfigError("set either AUTH_WEBHOOK_URL or AUTH_LAMBDA_ARN, not both: one authorizer decides for subscribers");
  }
  // Read before knowing whether an authorizer is on: a wrong value stops the start either way.
  const limits = {
    cacheSeconds: read.integer("AUTH_WEBHOOK_CACHE_S", 60, 0, 86_400),
    timeoutMs: read.integer("AUTH_WEBHOOK_TIMEOUT_MS", 2000, 50, 60_000),
  };
  const lambdaSettings = {
    endpoint: read.url("AUTH_LAMBDA_ENDPOINT", ["https:", "http:"]) && read.string("AUTH_LAMBDA_ENDPOINT"),
    userIdKey: answerPath(read, "AUTH_LAMBDA_USER_ID_KEY", "principalId"),
    topicsKey: answerPath(read, "AUTH_LAMBDA_TOPICS_KEY", "context.topics"),
  };
  if (url === undefined && functionArn === undefined) return undefined;
  if (url !== undefined) {
    if (url.username !== "" || url.password !== "") {
      throw new ConfigError("AUTH_WEBHOOK_URL must not hold user:password@ (HTTP clients refuse such URLs); restrict the webhook by network or put a secret in its path");
    }
    return { kind: "webhook", url, ...limits };
  }
  const region = LAMBDA_FUNCTION_ARN.exec(functionArn!)?.[1];
  if (region === undefined) {
    throw new ConfigError(`AUTH_LAMBDA_ARN must be a function ARN like arn:aws:lambda:eu-west-1:123456789012:function:my-authorizer, got "${functionArn}"`);
  }
  return {
    kind: "lambda",
    functionArn: functionArn!,
    region,
    ...lambdaSettings,
    ...limits,
  };
}

function answerPath(read: EnvReader, name: string, fallback: string): string {
  const path = read.string(name) ?? fallback;
  if (!ANSWER_PATH.test(path)) throw new ConfigError(`${name} must be a dotted key path in the authorizer's answer, like context.userId, got "${path}"`);
  return path;
}
