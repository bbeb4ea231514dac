/** How much history the bus keeps per channel, and how long a publisher's event id is remembered. */
export interface RetentionOptions {
  /** Events kept per channel. */
  readonly maxEvents: number;
  /** Age after which an event leaves history, in ms. */
  readonly maxAgeMs: number;
  /** How long an idempotency key keeps a repeat from being delivered, in ms. */
  readonly idempotencyWindowMs: number;
}
