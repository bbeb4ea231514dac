/** At most one log line per this many ms about failed bus calls, however many streams retry. */
const LOG_EVERY_MS = 10_000;

/**
 * Logs failed bus calls without flooding: when the bus is down every open stream retries, and
 * one line per period (with how many failed since the last one) says as much as thousands.
 */
export class FailureLog {
  readonly #log: (message: string, error: unknown) => void;
  readonly #now: () => number;
  #lastLoggedAt = -Infinity;
  #unlogged = 0;

  constructor(log: (message: string, error: unknown) => void, now: () => number) {
    this.#log = log;
    this.#now = now;
  }

  failed(what: string, error: unknown): void {
    const now = this.#now();
    if (now - this.#lastLoggedAt < LOG_EVERY_MS) {
      this.#unlogged++;
      return;
    }
    const also = this.#unlogged > 0 ? ` (and ${this.#unlogged} other failed bus calls since the last report)` : "";
    this.#log(`${what} failed; the stream retries with backoff${also}`, error);
    this.#lastLoggedAt = now;
    this.#unlogged = 0;
  }
}
