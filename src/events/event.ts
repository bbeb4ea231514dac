import type { EventPosition } from "./event-id.ts";

/** What a publisher asks for, before the bus gives it an id. */
export interface EventDraft {
  readonly type: string;
  /** The payload, already serialised once as JSON; it is never parsed again on the way out. */
  readonly dataJson: string;
  /** Recipient channels (see channels.ts), without repeats. */
  readonly channels: readonly string[];
  /**
   * Publisher-supplied key, already scoped to the publisher by the caller: the same key within
   * the idempotency window is delivered once.
   */
  readonly idempotencyKey?: string;
  /**
   * A digest of what the event says (type, data, recipients), stored with the idempotency key: a
   * repeat of the key with another fingerprint is a conflict, not a duplicate.
   */
  readonly fingerprint?: string;
}

/** An accepted event, as the bus hands it to the hub and to history readers. */
export interface GatewayEvent extends EventPosition {
  readonly id: string;
  readonly type: string;
  readonly dataJson: string;
  readonly channels: readonly string[];
}

/** Event types starting with this prefix are the gateway's own (see README "Control events"). */
export const RESERVED_TYPE_PREFIX = "gateway.";
