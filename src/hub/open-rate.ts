const WINDOW_MS = 60_000;

/**
 * Stream opens per user in the current minute. A fixed window, reset whole when the minute
 * turns: one map lookup per open, and memory only for the users who opened a stream this minute.
 */
export class OpenRate {
  readonly #limit: number;
  readonly #now: () => number;
  #windowStart = 0;
  #opens = new Map<string, number>();

  constructor(limitPerMinute: number, now: () => number) {
    this.#limit = limitPerMinute;
    this.#now = now;
  }

  /** Counts an open and returns 0, or returns the seconds until this user may open again. */
  take(userId: string): number {
    const now = this.#now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now;
      this.#opens = new Map();
    }
    const opens = this.#opens.get(userId) ?? 0;
    if (opens >= this.#limit) return Math.max(1, Math.ceil((this.#windowStart + WINDOW_MS - now) / 1000));
    this.#opens.set(userId, opens + 1);
    return 0;
  }
}
