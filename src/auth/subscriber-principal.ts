/** Who an open stream speaks for: whatever proved it (a JWT or an authorizer), this is what the hub needs. */
export interface SubscriberPrincipal {
  readonly userId: string;
  /** Topic patterns this user may subscribe to. */
  readonly topicPatterns: readonly string[];
  /** Seconds since the epoch when the grant ends (the stream then ends too), if it does. */
  readonly expiresAt: number | undefined;
}

/**
 * A user id names the user's channel: 1 to 256 printable characters of well-formed Unicode (a
 * lone surrogate would become U+FFFD in storage keys, and two users one channel).
 */
export function isUsableUserId(value: unknown): value is string {
  return typeof value === "string" && value !== "" && value.length <= 256 && !/[\u0000-\u001f\u007f]/.test(value) && value.isWellFormed();
}
