export interface BackoffLimits {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * The delay before retry number `attempt` (0 first): exponential up to maxMs, drawn from the
 * upper half of that ceiling, so that streams failing together do not retry together.
 */
export function backoffDelay(attempt: number, limits: BackoffLimits, random: () => number): number {
  const ceiling = Math.min(limits.maxMs, limits.baseMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + (random() * ceiling) / 2;
}
