/**
 * The small JSON path dialect of the routing variables: `$` then `.name`, `[n]` or `[*]` steps,
 * e.g. `$.detail.owner.id` or `$.detail.recipients[*].userId`. Enough to point at a user id in
 * someone else's event without a query language in the configuration.
 */
export interface JsonPath {
  /** As written in the configuration, for messages. */
  readonly text: string;
  readonly steps: readonly PathStep[];
}

type PathStep = { readonly kind: "key"; readonly key: string } | { readonly kind: "index"; readonly index: number } | { readonly kind: "each" };

const STEP = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\*\]/y;

/** Parses one path; throws an Error saying what is wrong with it. */
export function parseJsonPath(text: string): JsonPath {
  if (!text.startsWith("$")) throw new Error(`a path starts with "$", got "${text}"`);
  const steps: PathStep[] = [];
  STEP.lastIndex = 1;
  while (STEP.lastIndex < text.length) {
    const at = STEP.lastIndex;
    const match = STEP.exec(text);
    if (!match) throw new Error(`cannot read "${text}" from character ${at + 1}: use .name, [n] or [*] steps`);
    if (match[1] !== undefined) steps.push({ kind: "key", key: match[1] });
    else if (match[2] !== undefined) steps.push({ kind: "index", index: Number(match[2]) });
    else steps.push({ kind: "each" });
  }
  if (steps.length === 0) throw new Error(`"${text}" names no field`);
  return { text, steps };
}

/** Every value the path reaches; an array at the end counts as its elements. */
export function selectAll(root: unknown, path: JsonPath): unknown[] {
  let current: unknown[] = [root];
  for (const step of path.steps) current = current.flatMap((value) => applyStep(value, step));
  return current.flatMap((value) => (Array.isArray(value) ? value : [value]));
}

function applyStep(value: unknown, step: PathStep): unknown[] {
  if (step.kind === "each") return Array.isArray(value) ? value : [];
  if (step.kind === "index") return Array.isArray(value) && step.index < value.length ? [value[step.index]] : [];
  if (value === null || typeof value !== "object" || Array.isArray(value) || !Object.hasOwn(value, step.key)) return [];
  return [(value as Record<string, unknown>)[step.key]];
}
