import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWTHeaderParameters, type JWTVerifyGetKey } from "jose";

export interface RemoteKeySetOptions {
  /** A fetch without a whole answer after this long has failed. */
  readonly timeoutMs: number;
  /** Keys older than this are refreshed, in the background: the old ones keep verifying meanwhile. */
  readonly maxAgeMs: number;
  /** A token naming a key id the set lacks triggers at most one fetch per this period. */
  readonly unknownKidCooldownMs: number;
  /** After a failed fetch, no other one for this long. */
  readonly failureBackoffMs: number;
}

export const DEFAULT_KEY_SET_OPTIONS: RemoteKeySetOptions = {
  timeoutMs: 5000,
  maxAgeMs: 600_000,
  unknownKidCooldownMs: 30_000,
  failureBackoffMs: 5000,
};

/**
 * The algorithms tokens signed with keys of the set may use: asymmetric ones alone. An HS256
 * token "signed" with a public key's bytes, or `alg: none`, is refused before any key is looked up.
 */
export const KEY_SET_ALGORITHMS: readonly string[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

/** The key set could not be fetched and no keys are held yet: a transient failure (503). */
export class KeySetUnavailableError extends Error {
  override readonly name = "KeySetUnavailableError";
  readonly retryAfterSeconds: number;

  constructor(reason: string, retryAfterSeconds: number) {
    super(`the key set (JWKS_URL) could not be fetched: ${reason}; try again`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The identity provider's keys (JWKS_URL). Unlike jose's remote set, an outage of the provider
 * never takes away keys already fetched, and fetches are bounded whatever tokens arrive: one at a
 * time, none within the backoff after a failure, and one per cooldown for unknown key ids.
 */
export class RemoteKeySet {
  readonly #url: URL;
  readonly #options: RemoteKeySetOptions;
  #keys?: JWTVerifyGetKey;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastFailure?: string;
  #pending?: Promise<void>;

  constructor(url: URL, options: RemoteKeySetOptions = DEFAULT_KEY_SET_OPTIONS) {
    this.#url = url;
    this.#options = options;
  }

  /** The key resolver jose's jwtVerify takes. */
  readonly getKey = async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    if (this.#keys === undefined) await this.#refresh(this.#options.failureBackoffMs);
    else if (Date.now() - this.#fetchedAt >= this.#options.maxAgeMs) void this.#refresh(this.#options.failureBackoffMs);
    const keys = this.#keys;
    if (keys === undefined) throw this.#unavailable();
    try {
      return (await keys(header, token)) as CryptoKey;
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A key added since the last fetch (a rotation): look once, then answer from what is held.
      // While the set cannot be fetched nobody knows whether the key exists: an outage, not a
      // refusal (which EventSource takes as final), and retried after the failure backoff.
      await this.#refresh(this.#lastFailure === undefined ? this.#options.unknownKidCooldownMs : this.#options.failureBackoffMs);
      if (this.#lastFailure !== undefined) throw this.#unavailable();
      if (this.#keys === keys) throw error;
      return (await this.#keys!(header, token)) as CryptoKey;
    }
  };

  #unavailable(): KeySetUnavailableError {
    return new KeySetUnavailableError(this.#lastFailure ?? "no answer yet", Math.ceil(this.#options.failureBackoffMs / 1000));
  }

  /** Fetches the set unless a fetch runs or one was tried within `spacingMs`; never throws. */
  #refresh(spacingMs: number): Promise<void> {
    if (this.#pending) return this.#pending;
    if (Date.now() - this.#attemptedAt < spacingMs) return Promise.resolve();
    this.#attemptedAt = Date.now();
    this.#pending = this.#fetch()
      .then((keys) => {
        this.#keys = keys;
        this.#fetchedAt = Date.now();
        this.#lastFailure = undefined;
      })
      .catch((error: unknown) => {
        this.#lastFailure = error instanceof Error ? error.message : String(error);
        // The backoff runs from the failure: counted from the start, a fetch that timed out would
        // be followed by the next at once, and while the provider hangs every request would wait.
        this.#attemptedAt = Date.now();
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  async #fetch(): Promise<JWTVerifyGetKey> {
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    const response = await fetch(this.#url, { signal, redirect: "manual", headers: { accept: "application/json, application/jwk-set+json" } });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    return createLocalJWKSet((await response.json()) as JSONWebKeySet);
  }
}
