import type { Health } from "../health.ts";

/** A way events enter besides POST /publish (a queue, a Redis channel): started and stopped with the gateway. */
export interface IngestSource {
  readonly name: string;
  start(): void;
  /** Stops taking new input and settles what it holds; resolves when nothing is in flight. */
  stop(): Promise<void>;
  health(): Health;
}
