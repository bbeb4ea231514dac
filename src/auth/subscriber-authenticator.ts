import { AuthError } from "./auth-error.ts";
import type { AuthorizerRequest } from "./authorizers/authorizer.ts";
import type { AuthorizerGate } from "./authorizers/authorizer-gate.ts";
import type { SubscriberPrincipal } from "./subscriber-principal.ts";
import type { TokenVerifier } from "./token-verifier.ts";
import { allowedByAny } from "./topic-patterns.ts";

/** A stream open as authentication sees it. */
export interface SubscriberRequest extends AuthorizerRequest {
  /** The request's JWT; throws AuthError when it carries none where one is looked for. */
  readonly token: () => string;
}

/** Who may open a stream, and to which of the topics it asks for. */
export interface SubscriberAuthenticator {
  /** The principal, once every asked topic is allowed; throws AuthError or AuthorizerFailure otherwise. */
  authenticate(request: SubscriberRequest): Promise<SubscriberPrincipal>;
}

/**
 * A valid JWT first; when the request has none (or one that does not verify) and an authorizer
 * is configured, the authorizer decides. The JWT goes first because it costs no call, and because
 * publishers' and services' tokens keep working next to the application's sessions. Errors that
 * are not a refusal of the token (a key set that cannot be fetched) are not masked by the authorizer.
 */
export function createSubscriberAuthenticator(verifier: TokenVerifier, authorizer: AuthorizerGate | undefined): SubscriberAuthenticator {
  return {
    async authenticate(request) {
      let principal: SubscriberPrincipal;
      let grantedBy: string;
      try {
        principal = await verifier.verify(request.token());
        grantedBy = "the token's `topics` claim";
      } catch (error) {
        if (!authorizer || !(error instanceof AuthError) || error.status !== 401) throw error;
        principal = await authorizer.authorize(request);
        grantedBy = "the authorizer's answer";
      }
      const refused = request.topics.find((topic) => !allowedByAny(principal.topicPatterns, topic));
      if (refused !== undefined) throw new AuthError(403, "topic_not_allowed", `${grantedBy} does not allow the topic "${refused}"`);
      return principal;
    },
  };
}
