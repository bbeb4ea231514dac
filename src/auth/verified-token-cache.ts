/** Tokens remembered at most; past this the oldest entry makes room. */
const MAX_ENTRIES = 10_000;

/**
 * Remembers what a token proved, keyed by its exact text, until the token's own `exp`: a
 * service that publishes with the same token pays for the signature check once. A changed byte
 * is another key, so nothing unverified is ever served; `exp` and `nbf` are checked on each use.
 */
export class VerifiedTokenCache<T> {
  readonly #entries = new Map<string, { value: T; exp: number; nbf: number }>();
  readonly #nowSeconds: () => number;

  constructor(nowSeconds: () => number = () => Date.now() / 1000) {
    this.#nowSeconds = nowSeconds;
  }

  get(token: string): T | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    const now = this.#nowSeconds();
    if (now >= entry.exp || now < entry.nbf) {
      // Expired (or not yet valid): the full check gives the precise reason.
      this.#entries.delete(token);
      return undefined;
    }
    return entry.value;
  }

  /** Tokens without `exp` are not remembered: nothing would ever end their entry. */
  set(token: string, value: T, exp: number | undefined, nbf: number | undefined): void {
    if (exp === undefined) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(token, { value, exp, nbf: nbf ?? 0 });
  }
}
