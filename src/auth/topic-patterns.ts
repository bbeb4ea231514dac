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

/** What a publish addresses: a user's private channel or a topic. */
export type PublishTarget = { readonly kind: "user" | "topic"; readonly name: string };

const NAMESPACES = { user: "user:", topic: "topic:" } as const;

/**
 * Whether a `publish` claim allows the target. Its patterns live in two name spaces:
 * `user:<pattern>` matches user ids and `topic:<pattern>` topic names; a pattern with neither
 * prefix is a topic pattern (as claims always read topics), and `*` alone allows everything.
 * A pattern never matches across the name spaces, so "u*" cannot reach user "bob".
 */
export function publishAllows(patterns: readonly string[], target: PublishTarget): boolean {
  return patterns.some((pattern) => {
    if (pattern === "*") return true;
    const inUsers = pattern.startsWith(NAMESPACES.user);
    if (target.kind === "user") return inUsers && matchesPattern(pattern.slice(NAMESPACES.user.length), target.name);
    if (inUsers) return false;
    const topicPattern = pattern.startsWith(NAMESPACES.topic) ? pattern.slice(NAMESPACES.topic.length) : pattern;
    return matchesPattern(topicPattern, target.name);
  });
}

export function describeTarget(target: PublishTarget): string {
  return `${NAMESPACES[target.kind]}${target.name}`;
}
