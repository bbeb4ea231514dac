import type { FastifyBaseLogger } from "fastify";
import type { Bindings, ChildLoggerOptions as ChildOptions } from "pino";

type Log = (...args: unknown[]) => void;

/**
 * A request's logger that becomes pino's child logger (the request id bound) only when it first
 * logs. fastify makes that child for every request, and pino serialises its bindings at once: a
 * measurable share of a stream open's CPU and garbage, for a logger that a stream opened without
 * failing never uses. What it logs, once it does, is exactly what the child would have logged.
 */
class LazyChildLogger implements FastifyBaseLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#logger().level = level;
  }

  fatal(...args: unknown[]): void {
    (this.#logger().fatal as Log)(...args);
  }

  error(...args: unknown[]): void {
    (this.#logger().error as Log)(...args);
  }

  warn(...args: unknown[]): void {
    (this.#logger().warn as Log)(...args);
  }

  info(...args: unknown[]): void {
    (this.#logger().info as Log)(...args);
  }

  debug(...args: unknown[]): void {
    (this.#logger().debug as Log)(...args);
  }

  trace(...args: unknown[]): void {
    (this.#logger().trace as Log)(...args);
  }

  silent(...args: unknown[]): void {
    (this.#logger().silent as Log)(...args);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options);
  }

  #logger(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }
}

/** fastify's `childLoggerFactory` for routes whose requests seldom log (GET /events). */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options);
}
