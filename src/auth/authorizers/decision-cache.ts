/** How a value was obtained: stored earlier, shared with the identical load in flight, or loaded now. */
export type CacheSource = "stored" | "in_flight" | "loaded";

/** A bound on what the stored values hold together, in whatever unit `weigh` counts. */
export interface WeightBound<V> {
  weigh(value: V): number;
  readonly max: number;
}

/**
 * A bounded map of values that expire, where concurrent loads of one key share a single load:
 * a thousand identical requests at once cost one call. Failed loads are not stored. Bounded in
 * entries and, when given a weight bound, in their total weight: few entries may be large.
 */
export class DecisionCache<V> {
  readonly #stored = new Map<string, { readonly value: V; readonly untilMs: number; readonly weight: number }>();
  readonly #inFlight = new Map<string, Promise<V>>();
  readonly #maxEntries: number;
  readonly #nowMs: () => number;
  readonly #bound: WeightBound<V>;
  #weight = 0;

  constructor(maxEntries: number, nowMs: () => number = Date.now, bound: WeightBound<V> = { weigh: () => 0, max: Infinity }) {
    this.#maxEntries = maxEntries;
    this.#nowMs = nowMs;
    this.#bound = bound;
  }

  get size(): number {
    return this.#stored.size;
  }

  /** The total weight of the stored values. */
  get weight(): number {
    return this.#weight;
  }

  /** The value for key; `load` runs only when none is stored or in flight; `ttlMs` says how long to keep it (0: not at all). */
  async get(key: string, load: () => Promise<V>, ttlMs: (value: V) => number): Promise<{ value: V; source: CacheSource }> {
    const stored = this.#stored.get(key);
    if (stored && stored.untilMs > this.#nowMs()) return { value: stored.value, source: "stored" };
    if (stored) this.#delete(key);
    const pending = this.#inFlight.get(key);
    if (pending) return { value: await pending, source: "in_flight" };
    const loading = load();
    this.#inFlight.set(key, loading);
    try {
      const value = await loading;
      this.#store(key, value, ttlMs(value));
      return { value, source: "loaded" };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  #store(key: string, value: V, ttlMs: number): void {
    const weight = this.#bound.weigh(value);
    if (!(ttlMs > 0) || weight > this.#bound.max) return;
    // Map order is insertion order: the first key is the oldest entry, the one to evict.
    this.#delete(key);
    while (this.#stored.size >= this.#maxEntries || this.#weight + weight > this.#bound.max) this.#evictOne();
    this.#stored.set(key, { value, untilMs: this.#nowMs() + ttlMs, weight });
    this.#weight += weight;
  }

  #evictOne(): void {
    const oldest = this.#stored.keys().next();
    if (!oldest.done) this.#delete(oldest.value);
  }

  #delete(key: string): void {
    this.#weight -= this.#stored.get(key)?.weight ?? 0;
    this.#stored.delete(key);
  }
}
