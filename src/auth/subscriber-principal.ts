/** Who an open stream speaks for: whatever proved it (a JWT or an authorizer), this is what the hub needs. */
export interface SubscriberPrincipal {
  readonly userId: string;
  /** Topic patterns this user may subscribe to. */
  readonly topicPatterns: readonly string[];
  /** Seconds since the epoch when the grant ends (the stream then ends too), if it does. */
  readonly expiresAt: number | undefined;
}
