/** Why a queue message cannot become an event; a label of the failure metric. */
export type PoisonReason = "not_json" | "unknown_shape" | "no_recipient" | "too_large" | "invalid";

/**
 * A message that will never be delivered however often it is retried. It is not deleted: the
 * queue's redrive policy moves it to the dead-letter queue, where it can be looked at.
 */
export class PoisonMessageError extends Error {
  override readonly name = "PoisonMessageError";
  readonly reason: PoisonReason;

  constructor(reason: PoisonReason, message: string) {
    super(message);
    this.reason = reason;
  }
}
