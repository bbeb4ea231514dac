import type { AuthorizerConfig } from "../../config/authorizer-config.ts";
import type { AuthorizerLog, AuthorizerObserver } from "./authorizer.ts";
import { AuthorizerGate } from "./authorizer-gate.ts";
import { LambdaAuthorizer } from "./lambda-authorizer.ts";
import { WebhookAuthorizer } from "./webhook-authorizer.ts";

/** The configured authorizer behind its cache, or undefined when subscribers use JWTs only. */
export function createAuthorizer(config: AuthorizerConfig | undefined, observer: AuthorizerObserver, log: AuthorizerLog): AuthorizerGate | undefined {
  if (config === undefined) return undefined;
  const authorizer =
    config.kind === "webhook"
      ? new WebhookAuthorizer(config.url)
      : new LambdaAuthorizer({
          functionArn: config.functionArn,
          region: config.region,
          endpoint: config.endpoint,
          keys: { userId: config.userIdKey, topics: config.topicsKey },
        });
  return new AuthorizerGate(authorizer, { cacheSeconds: config.cacheSeconds, timeoutMs: config.timeoutMs, observer, log });
}
