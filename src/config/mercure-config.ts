import { ConfigError, type EnvReader } from "./env-reader.ts";

/** The Mercure hub at /.well-known/mercure (README, "Mercure compatibility"). */
export interface MercureConfig {
  /** MERCURE_PUBLISHER_JWT_KEY: the HS256 secret of publishers' tokens. */
  readonly publisherKey: Uint8Array;
  /** MERCURE_SUBSCRIBER_JWT_KEY: the HS256 secret of subscribers' tokens; the publisher's key when unset. */
  readonly subscriberKey: Uint8Array;
  /** MERCURE_ANONYMOUS=1: subscribers without a token receive public updates. */
  readonly anonymous: boolean;
  /** MERCURE_CORS_ORIGINS: origins allowed to use the hub besides CORS_ORIGINS. */
  readonly corsOrigins: readonly string[];
  /** MERCURE_SUBSCRIPTIONS=1: subscription updates when subscriptions start and end. */
  readonly subscriptionEvents: boolean;
  /** MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE: OAuth access tokens (typ at+jwt) are accepted. */
  readonly accessTokens?: { readonly issuer: string; readonly audience: string };
}

/** Mercure's own examples use 32-character secrets and longer: HS256 with less is guessable. */
const MIN_KEY_BYTES = 32;

/** The hub's settings; undefined (the hub is off) when MERCURE_PUBLISHER_JWT_KEY is unset. */
export function readMercure(read: EnvReader, checkOrigins: (name: string, origins: readonly string[]) => void): MercureConfig | undefined {
  const publisher = read.string("MERCURE_PUBLISHER_JWT_KEY");
  const subscriber = read.string("MERCURE_SUBSCRIBER_JWT_KEY");
  const anonymous = read.oneOf("MERCURE_ANONYMOUS", "0", ["0", "1"]) === "1";
  const corsOrigins = read.list("MERCURE_CORS_ORIGINS");
  const subscriptionEvents = read.oneOf("MERCURE_SUBSCRIPTIONS", "0", ["0", "1"]) === "1";
  const issuer = read.string("MERCURE_TOKEN_ISSUER");
  const audience = read.string("MERCURE_TOKEN_AUDIENCE");
  if ((issuer === undefined) !== (audience === undefined)) throw new ConfigError("MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE go together: set both or neither");
  if (publisher === undefined) {
    const stray = [
      subscriber && "MERCURE_SUBSCRIBER_JWT_KEY",
      anonymous && "MERCURE_ANONYMOUS",
      corsOrigins.length > 0 && "MERCURE_CORS_ORIGINS",
      subscriptionEvents && "MERCURE_SUBSCRIPTIONS",
      issuer && "MERCURE_TOKEN_ISSUER",
    ].filter(Boolean);
    if (stray.length > 0) throw new ConfigError(`${stray.join(" and ")} need MERCURE_PUBLISHER_JWT_KEY: the Mercure hub is on only with a publisher key`);
    return undefined;
  }
  checkOrigins("MERCURE_CORS_ORIGINS", corsOrigins);
  return {
    publisherKey: key("MERCURE_PUBLISHER_JWT_KEY", publisher),
    subscriberKey: key("MERCURE_SUBSCRIBER_JWT_KEY", subscriber ?? publisher),
    anonymous,
    corsOrigins,
    subscriptionEvents,
    ...(issuer === undefined || audience === undefined ? {} : { accessTokens: { issuer, audience } }),
  };
}

function key(name: string, value: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length < MIN_KEY_BYTES) throw new ConfigError(`${name} must be at least ${MIN_KEY_BYTES} bytes long (an HS256 secret), got ${bytes.length}`);
  return bytes;
}
