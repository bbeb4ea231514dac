/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the hub, as the newer Mercure revision
 * asks of a hub that takes OAuth access tokens: a client that knows only the hub's URL finds
 * there the audience its token must carry and the authorization server that issues it.
 */

/** Where the document of the hub at /.well-known/mercure lives (RFC 9728's path-derived location). */
export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/.well-known/mercure";

export interface ResourceMetadataOptions {
  /** MERCURE_TOKEN_ISSUER: the authorization server whose access tokens the hub accepts. */
  readonly issuer: string;
  /** MERCURE_TOKEN_AUDIENCE: the hub's resource identifier, which access tokens' `aud` must contain. */
  readonly audience: string;
  /** Whether the active subscriptions feature is on (MERCURE_SUBSCRIPTIONS=1). */
  readonly subscriptions: boolean;
}

export function resourceMetadataDocument({ issuer, audience, subscriptions }: ResourceMetadataOptions): Record<string, unknown> {
  return {
    resource: audience,
    authorization_servers: [issuer],
    // RFC 6750 methods only; the cookie is the draft's own member.
    bearer_methods_supported: ["header", "query"],
    authorization_details_types_supported: ["mercure"],
    mercure_cookie: true,
    ...(subscriptions ? { mercure_subscriptions: true } : {}),
  };
}

/** The challenge of a request that carried no token: it points to the metadata when the hub serves it. */
export function bearerChallenge(metadataUrl: string | undefined): string {
  return metadataUrl === undefined ? "Bearer" : `Bearer resource_metadata="${metadataUrl}"`;
}
