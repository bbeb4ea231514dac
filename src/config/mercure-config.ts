import { ConfigError, type EnvReader } from "./env-reader.ts";

export type MercureKeyRole = "publisher" | "subscriber";

/** The Mercure hub at /.well-known/mercure (README, "Mercure compatibility"). */
export interface MercureConfig {
  /** MERCURE_PUBLISHER_JWT_KEY: the HS256 secret of publishers' tokens; unset, HS256 publisher tokens are refused. */
  readonly publisherKey?: Uint8Array;
  /** MERCURE_SUBSCRIBER_JWT_KEY: the HS256 secret of subscribers' tokens; the publisher's key when unset. */
  readonly subscriberKey?: Uint8Array;
  /** MERCURE_ANONYMOUS=1: subscribers without a token receive public updates. */
  readonly anonymous: boolean;
  /** MERCURE_CORS_ORIGINS: origins allowed to use the hub besides CORS_ORIGINS. */
  readonly corsOrigins: readonly string[];
  /** MERCURE_SUBSCRIPTIONS=1: subscription updates when subscriptions start and end. */
  readonly subscriptionEvents: boolean;
  /** MERCURE_SUBSCRIPTION_LEASE_MS: how long an instance that stopped (crashed) stays in the subscriptions API's lists, at most. */
  readonly subscriptionLeaseMs: number;
  /** MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE: OAuth access tokens (typ at+jwt) are accepted. */
  readonly accessTokens?: { readonly issuer: string; readonly audience: string };
  /** With JWKS_URL: the roles whose tokens keys of that set may sign (MERCURE_JWKS_ROLES), and the `iss` and `aud` they must carry. */
  readonly keySet?: { readonly roles: readonly MercureKeyRole[]; readonly issuer: string; readonly audience: string };
}

/** What the gateway's JWKS_URL settings give the hub: the provider's issuer and the gateway's audience. */
export interface GatewayKeySet {
  readonly issuer: string;
  readonly audience: string;
}

/** Mercure's own examples use 32-character secrets and longer: HS256 with less is guessable. */
const MIN_KEY_BYTES = 32;
const ROLES: readonly MercureKeyRole[] = ["subscriber", "publisher"];
/** Subscribers only: the provider signs in end users; publishing stays with the holders of the publisher secret unless asked for. */
const DEFAULT_KEY_SET_ROLES: readonly MercureKeyRole[] = ["subscriber"];

/**
 * The hub's settings; undefined (the hub is off) without a way to verify publishers: neither
 * MERCURE_PUBLISHER_JWT_KEY nor MERCURE_JWKS_ROLES naming publisher.
 */
export function readMercure(read: EnvReader, checkOrigins: (name: string, origins: readonly string[]) => void, gatewayKeySet: GatewayKeySet | undefined): MercureConfig | undefined {
  const publisher = read.string("MERCURE_PUBLISHER_JWT_KEY");
  const subscriber = read.string("MERCURE_SUBSCRIBER_JWT_KEY");
  const anonymous = read.oneOf("MERCURE_ANONYMOUS", "0", ["0", "1"]) === "1";
  const corsOrigins = read.list("MERCURE_CORS_ORIGINS");
  const subscriptionEvents = read.oneOf("MERCURE_SUBSCRIPTIONS", "0", ["0", "1"]) === "1";
  const subscriptionLeaseMs = read.integer("MERCURE_SUBSCRIPTION_LEASE_MS", 15_000, 1000, 300_000);
  const issuer = read.string("MERCURE_TOKEN_ISSUER");
  const audience = read.string("MERCURE_TOKEN_AUDIENCE");
  if ((issuer === undefined) !== (audience === undefined)) throw new ConfigError("MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE go together: set both or neither");
  const keySetRoles = readKeySetRoles(read, gatewayKeySet !== undefined);
  if (publisher === undefined && !keySetRoles.includes("publisher")) {
    const stray = [
      subscriber && "MERCURE_SUBSCRIBER_JWT_KEY",
      anonymous && "MERCURE_ANONYMOUS",
      corsOrigins.length > 0 && "MERCURE_CORS_ORIGINS",
      subscriptionEvents && "MERCURE_SUBSCRIPTIONS",
      issuer && "MERCURE_TOKEN_ISSUER",
      read.string("MERCURE_JWKS_ROLES") && "MERCURE_JWKS_ROLES",
    ].filter(Boolean);
    if (stray.length > 0) {
      throw new ConfigError(`${stray.join(" and ")} need the Mercure hub, which is on only with a way to verify publishers: MERCURE_PUBLISHER_JWT_KEY, or JWKS_URL with MERCURE_JWKS_ROLES=subscriber,publisher`);
    }
    return undefined;
  }
  checkOrigins("MERCURE_CORS_ORIGINS", corsOrigins);
  const subscriberKey = subscriber ?? publisher;
  return {
    ...(publisher === undefined ? {} : { publisherKey: key("MERCURE_PUBLISHER_JWT_KEY", publisher) }),
    ...(subscriberKey === undefined ? {} : { subscriberKey: key(subscriber === undefined ? "MERCURE_PUBLISHER_JWT_KEY" : "MERCURE_SUBSCRIBER_JWT_KEY", subscriberKey) }),
    anonymous,
    corsOrigins,
    subscriptionEvents,
    subscriptionLeaseMs,
    ...(issuer === undefined || audience === undefined ? {} : { accessTokens: { issuer, audience } }),
    // Key-set tokens name their issuer and audience: the provider signs tokens for other apps too.
    ...(gatewayKeySet === undefined || keySetRoles.length === 0
      ? {}
      : { keySet: { roles: keySetRoles, issuer: issuer ?? gatewayKeySet.issuer, audience: audience ?? gatewayKeySet.audience } }),
  };
}

/** MERCURE_JWKS_ROLES: `none`, or a comma list of subscriber and publisher; only with JWKS_URL. */
function readKeySetRoles(read: EnvReader, hasKeySet: boolean): readonly MercureKeyRole[] {
  const text = read.string("MERCURE_JWKS_ROLES");
  if (text !== undefined && !hasKeySet) throw new ConfigError("MERCURE_JWKS_ROLES needs JWKS_URL: it names the roles whose tokens keys of that set may sign");
  if (!hasKeySet) return [];
  if (text === undefined) return DEFAULT_KEY_SET_ROLES;
  if (text === "none") return [];
  const roles = read.list("MERCURE_JWKS_ROLES");
  const wrong = roles.find((role) => !(ROLES as readonly string[]).includes(role));
  if (wrong !== undefined || roles.length === 0) throw new ConfigError(`MERCURE_JWKS_ROLES must be none, or a comma list of subscriber and publisher, got "${text}"`);
  return [...new Set(roles as MercureKeyRole[])];
}

function key(name: string, value: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < MIN_KEY_BYTES) throw new ConfigError(`${name} must be at least ${MIN_KEY_BYTES} bytes long (an HS256 secret), got ${bytes.length}`);
  return bytes;
}
