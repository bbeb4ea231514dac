import { errors, jwtVerify, type JWTPayload } from "jose";
import { ApiError } from "../http/errors.ts";

/** What a verified Mercure token allows (its `mercure` claim). */
export interface MercureGrant {
  /** `sub`, when the token has one. */
  readonly subject?: string;
  /** `mercure.publish`: selectors of the topics it may publish to; undefined when it may not publish. */
  readonly publish?: readonly string[];
  /** `mercure.subscribe`: selectors of the topics whose private updates it may receive. */
  readonly subscribe: readonly string[];
  /** Seconds since the epoch; tokens without `exp` are accepted, as Mercure hubs accept them. */
  readonly expiresAt?: number;
}

export type MercureRole = "publisher" | "subscriber";

/** A claim list holds at most this many selectors: each one is tried on every update. */
const MAX_SELECTORS = 100;

/**
 * Verifies the HS256 tokens of Mercure publishers and subscribers, each role with its own key.
 * Every failure is the one 401 `invalid_token` (the protocol does not say why a token failed).
 */
export class MercureTokens {
  readonly #keys: Readonly<Record<MercureRole, Promise<CryptoKey>>>;

  constructor(keys: Readonly<Record<MercureRole, Uint8Array>>) {
    const imported = (secret: Uint8Array) =>
      crypto.subtle.importKey("raw", secret as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    this.#keys = { publisher: imported(keys.publisher), subscriber: imported(keys.subscriber) };
  }

  async verify(token: string, role: MercureRole): Promise<MercureGrant> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.#keys[role], { algorithms: ["HS256"] }));
    } catch (error) {
      throw invalidToken(error instanceof errors.JWTExpired ? "the token has expired" : `the token does not verify as a Mercure ${role} token`);
    }
    return grantOf(payload);
  }
}

function grantOf(payload: JWTPayload): MercureGrant {
  const claim = payload.mercure;
  if (claim !== undefined && (typeof claim !== "object" || claim === null || Array.isArray(claim))) throw invalidToken("the `mercure` claim must be an object");
  const mercure = (claim ?? {}) as Record<string, unknown>;
  const publish = selectorList(mercure.publish, "publish");
  return {
    ...(typeof payload.sub === "string" && payload.sub !== "" ? { subject: payload.sub } : {}),
    ...(publish === undefined ? {} : { publish }),
    subscribe: selectorList(mercure.subscribe, "subscribe") ?? [],
    ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
  };
}

function selectorList(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_SELECTORS || !value.every((item) => typeof item === "string")) {
    throw invalidToken(`\`mercure.${name}\` must be a list of at most ${MAX_SELECTORS} topic selectors (strings)`);
  }
  return value;
}

export function invalidToken(message: string): ApiError {
  return new ApiError("mercure_invalid_token", message, { "www-authenticate": 'Bearer error="invalid_token"' });
}
