/**
 * The next JWT_SECRET of a rotation. A value is "signing,next,previous": the signing key, the key
 * that will sign after the next rotation (already verifying), and the one that signed before.
 *
 *   [a]       -> [a, b]       the first rotation only announces b; a still signs
 *   [a, b]    -> [b, c, a]    b signs (tasks started before already verify it), a still verifies
 *   [b, c, a] -> [c, d, b]
 *
 * So two neighbouring values each hold the other's signing key: tasks started with either one
 * verify tokens signed with either, and a rotation never leaves a running task unable to verify a
 * new token nor a new task unable to verify a token still in use. Tasks must be replaced before the
 * rotation after next (the rotation function redeploys the service), and tokens must expire
 * before it too (the stack sets MAX_TOKEN_LIFETIME_S to half the rotation interval).
 */
export function nextSigningKeys(current: string, freshKey: () => string): string {
  const [signing, next] = current.split(",").map((key) => key.trim());
  if (signing === undefined || signing === "") throw new Error("the current JWT_SECRET is empty");
  if (next === undefined) return [signing, freshKey()].join(",");
  return [next, freshKey(), signing].join(",");
}
