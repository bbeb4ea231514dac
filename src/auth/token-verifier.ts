import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { JwtConfig } from "../config/config.ts";
import { AuthError } from "./auth-error.ts";
import { isUsableUserId } from "./subscriber-principal.ts";
import { KEY_SET_ALGORITHMS, KeySetUnavailableError, RemoteKeySet } from "./remote-key-set.ts";
import { VerifiedTokenCache } from "./verified-token-cache.ts";
import { Hs256Verifier } from "./hs256-verifier.ts";

/** Who a verified token speaks for and what it allows. */
export interface Principal {
  readonly userId: string;
  /** Topic patterns this user may subscribe to. */
  readonly topicPatterns: readonly string[];
  /** Patterns this token may publish to; undefined for tokens that cannot publish. */
  readonly publishPatterns: readonly string[] | undefined;
  /** Seconds since the epoch (the `exp` claim). */
  readonly expiresAt: number | undefined;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

export interface TokenRules {
  /** MAX_TOKEN_LIFETIME_S: tokens that live longer (from `iat`, or from now) are refused. */
  readonly maxLifetimeSeconds?: number;
}

/** `keySet`: the JWKS_URL keys, when the app shares them with the Mercure hub; made here otherwise. */
export function createTokenVerifier(config: JwtConfig, topicsClaim: string, rules: TokenRules = {}, keySet?: RemoteKeySet): TokenVerifier {
  const verifySignedClaims = claimsVerifier(config, keySet);
  const cache = new VerifiedTokenCache<Principal>();
  return {
    async verify(token: string): Promise<Principal> {
      const known = cache.get(token);
      if (known) return known;
      let payload: JWTPayload;
      try {
        payload = await verifySignedClaims(token);
      } catch (error) {
        throw explain(error);
      }
      checkLifetime(payload, rules.maxLifetimeSeconds);
      const principal = toPrincipal(payload, topicsClaim);
      // Publishers send the same token again and again; a subscriber's comes once per stream.
      if (principal.publishPatterns !== undefined) cache.set(token, principal, payload.exp, payload.nbf);
      return principal;
    },
  };
}

/**
 * HS256 secrets are checked with a synchronous HMAC (Hs256Verifier: a sixth of a stream open's
 * CPU went to WebCrypto's async HMAC); a key set's asymmetric algorithms go through jose.
 */
function claimsVerifier(config: JwtConfig, keySet: RemoteKeySet | undefined): (token: string) => JWTPayload | Promise<JWTPayload> {
  if (config.kind === "jwks") {
    const keys = keySet ?? new RemoteKeySet(config.jwksUrl);
    const options = { algorithms: [...KEY_SET_ALGORITHMS], issuer: config.issuer, audience: config.audience };
    return async (token) => (await jwtVerify(token, keys.getKey as JWTVerifyGetKey, options)).payload;
  }
  const secrets = config.kind === "secret" ? config.secrets : [config.secret];
  const hs256 = new Hs256Verifier(secrets, config.kind === "secret" ? { issuer: config.issuer, audience: config.audience } : {});
  return (token) => hs256.verify(token);
}

/** A token of the gateway's own API ends: without `exp`, its stream would never end. */
function checkLifetime(payload: JWTPayload, maxLifetimeSeconds: number | undefined): void {
  // jose has checked that a present `exp` is a number in the future.
  if (payload.exp === undefined) throw new AuthError(401, "token_claim_invalid", "the token needs an `exp` claim (its expiry, in seconds since the epoch)");
  if (maxLifetimeSeconds === undefined) return;
  const now = Math.floor(Date.now() / 1000);
  const from = Math.min(now, typeof payload.iat === "number" ? payload.iat : now);
  if (payload.exp - from > maxLifetimeSeconds) {
    throw new AuthError(401, "token_claim_invalid", `the token's \`exp\` is further than MAX_TOKEN_LIFETIME_S (${maxLifetimeSeconds} s) from its \`iat\` or from now`);
  }
}

function toPrincipal(payload: JWTPayload, topicsClaim: string): Principal {
  const sub = payload.sub;
  if (!isUsableUserId(sub)) {
    throw new AuthError(401, "token_subject_invalid", "the token needs a `sub` claim: the user id, 1 to 256 printable characters of well-formed Unicode");
  }
  return {
    userId: sub,
    topicPatterns: stringList(payload[topicsClaim], topicsClaim) ?? [],
    publishPatterns: stringList(payload.publish, "publish"),
    expiresAt: payload.exp,
  };
}

function stringList(value: unknown, claim: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new AuthError(401, "token_claim_invalid", `the \`${claim}\` claim must be a list of strings`);
  }
  return value;
}

function explain(error: unknown): AuthError | KeySetUnavailableError {
  if (error instanceof KeySetUnavailableError) return error;
  if (error instanceof errors.JWTExpired) return new AuthError(401, "token_expired", "the token has expired; get a fresh one");
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new AuthError(401, "token_bad_signature", "the token's signature does not verify with the gateway's key");
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const what = error.claim === "aud" ? "audience" : error.claim === "iss" ? "issuer" : `\`${error.claim}\` claim`;
    return new AuthError(401, `token_wrong_${error.claim}`, `the token's ${what} is not accepted here: ${error.reason}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new AuthError(401, "token_algorithm_not_allowed", "the token is signed with an algorithm this gateway does not accept");
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new AuthError(401, "token_unknown_key", "no key of the configured JWKS matches the token's `kid`");
  }
  return new AuthError(401, "token_malformed", "the token is not a well-formed JWT");
}
