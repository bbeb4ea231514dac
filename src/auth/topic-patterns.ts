/**
 * Topic patterns in token claims: `*` stands for any run of characters (also none), everything
 * else matches itself. "*" allows everything; "orders.*" allows "orders.42".
 */
export function matchesPattern(pattern: string, name: string): boolean {
  const parts = pattern.split("*");
  if (parts.length === 1) return pattern === name;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!name.startsWith(first) || name.length < first.length + last.length || !name.endsWith(last)) return false;
  let from = first.length;
  const end = name.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const at = name.indexOf(parts[i]!, from);
    if (at < 0 || at + parts[i]!.length > end) return false;
    from = at + parts[i]!.length;
  }
  return true;
}

export function allowedByAny(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) => matchesPattern(pattern, name));
}

/** Publishers address users through the same patterns, as "user:<id>". */
export function userTarget(userId: string): string {
  return `user:${userId}`;
}
