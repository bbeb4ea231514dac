import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
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

/** Selectors of one claim, at most: each one is tried on every update. */
const MAX_SELECTORS = 100;
const MATCH_TYPES: Readonly<Record<string, MatcherType>> = { exact: "exact", urlpattern: "urlpattern" };

/**
 * Verifies the HS256 tokens of Mercure publishers and subscribers, each role with its own key:
 * the old form (a `mercure` claim, draft-07) and, with AccessTokenRules, OAuth access tokens
 * (`typ: at+jwt`, `authorization_details`, draft-08). Every failure is the one 401
 * `invalid_token`: the protocol does not say why a token failed.
 */
export class MercureTokens {
  readonly #keys: Readonly<Record<MercureRole, Promise<CryptoKey>>>;
  readonly #accessTokens: AccessTokenRules | undefined;

  constructor(keys: Readonly<Record<MercureRole, Uint8Array>>, accessTokens?: AccessTokenRules) {
    const imported = (secret: Uint8Array) =>
      crypto.subtle.importKey("raw", secret as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    this.#keys = { publisher: imported(keys.publisher), subscriber: imported(keys.subscriber) };
    this.#accessTokens = accessTokens;
  }

  /** `hubUrl` resolves relative URL Patterns of access tokens. */
  async verify(token: string, role: MercureRole, hubUrl: string): Promise<MercureGrant> {
    const accessToken = isAccessToken(token);
    if (accessToken && !this.#accessTokens) throw invalidToken("OAuth access tokens (typ at+jwt) need MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE on this hub");
    let payload: JWTPayload;
    try {
      const rules = accessToken ? { typ: "at+jwt", issuer: this.#accessTokens!.issuer, audience: this.#accessTokens!.audience, requiredClaims: ["exp"] } : {};
      ({ payload } = await jwtVerify(token, await this.#keys[role], { algorithms: ["HS256"], ...rules }));
    } catch (error) {
      throw invalidToken(error instanceof errors.JWTExpired ? "the token has expired" : `the token does not verify as a Mercure ${role} token`);
    }
    const grant = accessToken ? accessTokenGrant(payload, hubUrl) : mercureClaimGrant(payload);
    return {
      ...grant,
      ...(typeof payload.sub === "string" && payload.sub !== "" ? { subject: payload.sub } : {}),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
    };
  }
}

function isAccessToken(token: string): boolean {
  try {
    const typ = decodeProtectedHeader(token).typ?.toLowerCase();
    return typ === "at+jwt" || typ === "application/at+jwt";
  } catch {
    throw invalidToken("the token is not a well-formed JWS");
  }
}

type Rights = Pick<MercureGrant, "publish" | "subscribe" | "payload">;

/** The old form: `mercure.publish` and `mercure.subscribe` hold topic selectors (exact, URI Template, `*`). */
function mercureClaimGrant(payload: JWTPayload): Rights {
  const claim = payload.mercure;
  if (claim !== undefined && (typeof claim !== "object" || claim === null || Array.isArray(claim))) throw invalidToken("the `mercure` claim must be an object");
  const mercure = (claim ?? {}) as Record<string, unknown>;
  const publish = selectorList(mercure.publish, "publish");
  return {
    ...(publish === undefined ? {} : { publish: publish.map(selector) }),
    subscribe: (selectorList(mercure.subscribe, "subscribe") ?? []).map(selector),
    ...(mercure.payload === undefined ? {} : { payload: mercure.payload }),
  };
}

function selectorList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_SELECTORS || !value.every((item) => typeof item === "string")) {
    throw invalidToken(`\`mercure.${name}\` must be a list of at most ${MAX_SELECTORS} topic selectors (strings)`);
  }
  return value;
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
    } catch {
      throw invalidToken(`the topic matcher "${match.slice(0, 100)}" is not a valid URL Pattern`);
    }
  });
}

export function invalidToken(message: string): ApiError {
  return new ApiError("mercure_invalid_token", message, { "www-authenticate": 'Bearer error="invalid_token"' });
}
