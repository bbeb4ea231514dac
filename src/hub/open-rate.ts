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
    const wait = this.peek(userId);
    if (wait === 0) this.#opens.set(userId, (this.#opens.get(userId) ?? 0) + 1);
    return wait;
  }

  /** What take would answer, without counting an open. */
  peek(userId: string): number {
    const now = this.#now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now;
      this.#opens = new Map();
    }
    if ((this.#opens.get(userId) ?? 0) < this.#limit) return 0;
    return Math.max(1, Math.ceil((this.#windowStart + WINDOW_MS - now) / 1000));
  }
}
