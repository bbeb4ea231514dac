import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, type ProtectedHeaderParameters } from "jose";
import { KEY_SET_ALGORITHMS, KeySetUnavailableError } from "../auth/remote-key-set.ts";
import { ApiError } from "../http/errors.ts";
import { matcher, selector, type MatcherType, type Selector } from "./selectors.ts";

/** What a verified Mercure token allows. */
export interface MercureGrant {
  /** `sub`, when the token has one. */
  readonly subject?: string;
  /** The topics it may publish to; undefined when it may not publish. */
  readonly publish?: readonly Selector[];
  /** The topics whose private updates it may receive. */
  readonly subscribe: readonly Selector[];
  /** `mercure.payload` (or the subscribe detail's `payload`): shown in subscription updates. */
  readonly payload?: unknown;
  /** Seconds since the epoch; old-form tokens without `exp` are accepted, as Mercure hubs accept them. */
  readonly expiresAt?: number;
}

export type MercureRole = "publisher" | "subscriber";

/** OAuth access tokens (the newer revision) are accepted when both are set. */
export interface AccessTokenRules {
  /** MERCURE_TOKEN_ISSUER: `iss` must equal it. */
  readonly issuer: string;
  /** MERCURE_TOKEN_AUDIENCE: `aud` must be or contain it. */
  readonly audience: string;
}

/** The identity provider's keys (JWKS_URL), for the roles they may sign tokens of. */
export interface MercureKeySet extends AccessTokenRules {
  /** The resolver of the gateway's one remote key set (its fetch timeout, caching and backoff). */
  readonly getKey: JWTVerifyGetKey;
  readonly roles: readonly MercureRole[];
}

export interface MercureKeys {
  /** HS256 secrets; a role without one takes no HS256 token. */
  readonly secrets: Readonly<Partial<Record<MercureRole, Uint8Array>>>;
  readonly accessTokens?: AccessTokenRules;
  readonly keySet?: MercureKeySet;
}

/** Selectors of one claim, at most: each one is tried on every update. */
const MAX_SELECTORS = 100;
const MATCH_TYPES: Readonly<Record<string, MatcherType>> = { exact: "exact", urlpattern: "urlpattern" };

/**
 * Verifies the tokens of Mercure publishers and subscribers: HS256 with each role's own secret,
 * and, for the roles MERCURE_JWKS_ROLES names, the asymmetric algorithms with keys of JWKS_URL.
 * The header's `alg` picks the one key source, and the verification allows that source's
 * algorithms alone, so no token can make a public key serve as an HMAC secret. Both the old form
 * (a `mercure` claim, draft-07) and OAuth access tokens (`typ: at+jwt`, `authorization_details`,
 * draft-08) are read. Every refusal is the one 401 `invalid_token` (the protocol does not say why
 * a token failed; the message does); a key set that cannot be fetched is a 503.
 */
export class MercureTokens {
  readonly #secrets: Readonly<Partial<Record<MercureRole, Promise<CryptoKey>>>>;
  readonly #accessTokens: AccessTokenRules | undefined;
  readonly #keySet: MercureKeySet | undefined;

  constructor(keys: MercureKeys) {
    const imported = (secret: Uint8Array) =>
      crypto.subtle.importKey("raw", secret as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const { publisher, subscriber } = keys.secrets;
    this.#secrets = { ...(publisher ? { publisher: imported(publisher) } : {}), ...(subscriber ? { subscriber: imported(subscriber) } : {}) };
    this.#accessTokens = keys.accessTokens;
    this.#keySet = keys.keySet;
  }

  /** `hubUrl` resolves relative URL Patterns of access tokens. */
  async verify(token: string, role: MercureRole, hubUrl: string): Promise<MercureGrant> {
    const header = protectedHeader(token);
    const accessToken = isAccessToken(header);
    const [key, options] = await this.#verification(header, role, accessToken);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as CryptoKey, options));
    } catch (error) {
      throw refusal(error, role);
    }
    const grant = accessToken ? accessTokenGrant(payload, hubUrl) : mercureClaimGrant(payload);
    return {
      ...grant,
      ...(typeof payload.sub === "string" && payload.sub !== "" ? { subject: payload.sub } : {}),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
    };
  }

  /** The key (or resolver) the token's `alg` asks for, and the rules a token from that source must meet. */
  async #verification(header: ProtectedHeaderParameters, role: MercureRole, accessToken: boolean): Promise<[CryptoKey | JWTVerifyGetKey, JWTVerifyOptions]> {
    const typ = accessToken ? { typ: "at+jwt" } : {};
    if (header.alg === "HS256") {
      const secret = this.#secrets[role];
      if (secret === undefined) throw invalidToken(`this hub has no HS256 key for ${role} tokens (MERCURE_${role.toUpperCase()}_JWT_KEY): sign them with a key of JWKS_URL`);
      if (!accessToken) return [await secret, { algorithms: ["HS256"] }];
      if (!this.#accessTokens) throw invalidToken("OAuth access tokens (typ at+jwt) need MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE on this hub");
      const { issuer, audience } = this.#accessTokens;
      return [await secret, { algorithms: ["HS256"], ...typ, issuer, audience, requiredClaims: ["exp"] }];
    }
    if (typeof header.alg === "string" && KEY_SET_ALGORITHMS.includes(header.alg)) {
      const keySet = this.#keySet;
      if (keySet === undefined || !keySet.roles.includes(role)) {
        throw invalidToken(`${role} tokens signed with ${header.alg} are not accepted: MERCURE_JWKS_ROLES (with JWKS_URL) does not name ${role}; HS256 with MERCURE_${role.toUpperCase()}_JWT_KEY is`);
      }
      // The provider signs tokens for other apps too: a key-set token names this hub's issuer and audience, and ends.
      return [keySet.getKey, { algorithms: [...KEY_SET_ALGORITHMS], ...typ, issuer: keySet.issuer, audience: keySet.audience, requiredClaims: ["exp"] }];
    }
    throw invalidToken(`the algorithm ${JSON.stringify(String(header.alg).slice(0, 20))} is not accepted: HS256 with the role's secret, or ${KEY_SET_ALGORITHMS.join(", ")} with keys of JWKS_URL`);
  }
}

function protectedHeader(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw invalidToken("the token is not a well-formed JWS");
  }
}

function refusal(error: unknown, role: MercureRole): Error {
  if (error instanceof KeySetUnavailableError) return error;
  if (error instanceof errors.JWTExpired) return invalidToken("the token has expired");
  if (error instanceof errors.JWKSNoMatchingKey) return invalidToken("no key of JWKS_URL matches the token's `kid` and `alg`");
  if (error instanceof errors.JWTClaimValidationFailed) return invalidToken(`the token's \`${error.claim}\` claim is not accepted: ${error.reason}`);
  return invalidToken(`the token does not verify as a Mercure ${role} token`);
}

function isAccessToken(header: ProtectedHeaderParameters): boolean {
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : undefined;
  return typ === "at+jwt" || typ === "application/at+jwt";
}

type Rights = Pick<MercureGrant, "publish" | "subscribe" | "payload">;

/** The old form: `mercure.publish` and `mercure.subscribe` hold topic selectors (exact, URI Template, `*`). */
function mercureClaimGrant(payload: JWTPayload): Rights {
  const claim = payload.mercure;
  if (claim !== undefined && (typeof claim !== "object" || claim === null || Array.isArray(claim))) throw invalidToken("the `mercure` claim must be an object");
  const mercure = (claim ?? {}) as Record<string, unknown>;
  const publish = selectorList(mercure.publish, "publish");
  return {
    ...(publish === undefined ? {} : { publish }),
    subscribe: selectorList(mercure.subscribe, "subscribe") ?? [],
    ...(mercure.payload === undefined ? {} : { payload: mercure.payload }),
  };
}

function selectorList(value: unknown, name: string): Selector[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_SELECTORS || !value.every((item) => typeof item === "string")) {
    throw invalidToken(`\`mercure.${name}\` must be a list of at most ${MAX_SELECTORS} topic selectors (strings)`);
  }
  return value.map((text: string) => {
    try {
      return selector(text);
    } catch (error) {
      throw invalidToken(`\`mercure.${name}\` holds a refused selector "${text.slice(0, 100)}": ${(error as Error).message}`);
    }
  });
}

/**
 * An access token's `authorization_details` (RFC 9396): each detail of type `mercure` grants its
 * `actions` (publish, subscribe) on its `topics` (`{ match, matchType }` objects). A detail that
 * does not parse rejects the whole token: acting on the rest would change what it grants.
 */
function accessTokenGrant(payload: JWTPayload, hubUrl: string): Rights {
  const details = payload.authorization_details;
  if (details !== undefined && !Array.isArray(details)) throw invalidToken("`authorization_details` must be a list");
  const publish: Selector[] = [];
  const subscribe: Selector[] = [];
  let payloadOfSubscribe: unknown;
  let mayPublish = false;
  for (const detail of (details ?? []) as unknown[]) {
    if (typeof detail !== "object" || detail === null || (detail as { type?: unknown }).type !== "mercure") continue;
    const { actions, topics, payload: detailPayload } = detail as { actions?: unknown; topics?: unknown; payload?: unknown };
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((action) => action === "publish" || action === "subscribe")) {
      throw invalidToken("a `mercure` authorization detail needs `actions`: a non-empty list of publish and subscribe");
    }
    const matchers = topicMatchers(topics, hubUrl);
    if (actions.includes("publish")) {
      mayPublish = true;
      publish.push(...matchers);
    }
    if (actions.includes("subscribe")) {
      subscribe.push(...matchers);
      payloadOfSubscribe ??= detailPayload;
    }
  }
  if (publish.length > MAX_SELECTORS || subscribe.length > MAX_SELECTORS) throw invalidToken(`at most ${MAX_SELECTORS} topic matchers per action`);
  return { ...(mayPublish ? { publish } : {}), subscribe, ...(payloadOfSubscribe === undefined ? {} : { payload: payloadOfSubscribe }) };
}

function topicMatchers(topics: unknown, hubUrl: string): Selector[] {
  if (!Array.isArray(topics) || topics.length === 0 || topics.length > MAX_SELECTORS) {
    throw invalidToken(`a \`mercure\` authorization detail needs \`topics\`: 1 to ${MAX_SELECTORS} topic matcher objects`);
  }
  return topics.map((topic: unknown) => {
    const { match, matchType, match_type: matchTypeSnake } = (typeof topic === "object" && topic !== null ? topic : {}) as Record<string, unknown>;
    const typeName = matchType ?? matchTypeSnake ?? "exact";
    const type = typeof typeName === "string" ? MATCH_TYPES[typeName.toLowerCase()] : undefined;
    if (typeof match !== "string" || match === "" || type === undefined) {
      throw invalidToken("each topic matcher is an object with `match` (a string) and an optional `matchType` (Exact or URLPattern)");
    }
    try {
      return matcher(type, match, hubUrl);
    } catch (error) {
      throw invalidToken(`the topic matcher "${match.slice(0, 100)}" is refused: ${(error as Error).message}`);
    }
  });
}

export function invalidToken(message: string): ApiError {
  return new ApiError("mercure_invalid_token", message, { "www-authenticate": 'Bearer error="invalid_token"' });
}
