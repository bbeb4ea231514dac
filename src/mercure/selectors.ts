import { compileUriTemplate } from "./uri-template.ts";
import { urlPattern } from "./url-pattern.ts";

/**
 * A topic selector of the Mercure protocol: `*` (every topic), a URI Template (RFC 6570) that
 * matches topic IRIs, or an exact string. A selector that looks like a template also matches
 * itself as an exact string, as Mercure hubs do.
 */
export interface Selector {
  readonly text: string;
  /** True when only equal topics match: the stream can listen to that topic's channel alone. */
  readonly exact: boolean;
  matches(topic: string): boolean;
}

export const ANY_TOPIC = "*";

/** Selectors compiled once: templates of a busy page repeat on every stream. */
const compiled = new Map<string, Selector>();
const MAX_COMPILED = 10_000;
/** Longest selector: as long as the longest topic (a longer exact one could match nothing, a template is walked per update). */
const MAX_SELECTOR_CHARS = 2048;

/** Throws TypeError, saying why, for a selector whose matching would cost too much (see compileUriTemplate). */
export function selector(text: string): Selector {
  const known = compiled.get(text);
  if (known) return known;
  const made = makeSelector(text);
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(text, made);
  return made;
}

function makeSelector(text: string): Selector {
  if (text === ANY_TOPIC) return { text, exact: false, matches: () => true };
  if (text.length > MAX_SELECTOR_CHARS) throw new TypeError(`a topic selector is at most ${MAX_SELECTOR_CHARS} characters`);
  const template = text.includes("{") ? compileUriTemplate(text) : undefined;
  if (template) return { text, exact: false, matches: (topic) => topic === text || template.test(topic) };
  return { text, exact: true, matches: (topic) => topic === text };
}

/** The matcher types of the newer revision (draft-08): `match` and `match_exact` compare exactly, `match_urlpattern` is a URL Pattern. */
export type MatcherType = "exact" | "urlpattern";

/**
 * A matcher of the newer revision. `*` matches every topic whatever the type; relative URL
 * Patterns and topics are resolved against the hub's URL. Throws TypeError, saying why, for a pattern
 * the URL Pattern standard refuses or one whose matching could backtrack (see urlPattern).
 */
export function matcher(type: MatcherType, text: string, hubUrl: string): Selector {
  if (text === ANY_TOPIC) return selector(ANY_TOPIC);
  if (type === "exact") {
    if (text.length > MAX_SELECTOR_CHARS) throw new TypeError(`a topic matcher is at most ${MAX_SELECTOR_CHARS} characters`);
    return { text, exact: true, matches: (topic) => topic === text };
  }
  const pattern = urlPattern(text, hubUrl);
  return {
    text,
    exact: false,
    matches(topic) {
      try {
        return pattern.test(topic, hubUrl);
      } catch {
        return false;
      }
    },
  };
}

/** Whether any of the topics (canonical or alternate) matches any of the selectors. */
export function anyMatches(selectors: readonly Selector[], topics: readonly string[]): boolean {
  for (const topic of topics) for (const candidate of selectors) if (candidate.matches(topic)) return true;
  return false;
}

/** Whether every topic matches one of the selectors (what a publisher needs for each topic it names). */
export function allMatch(selectors: readonly Selector[], topics: readonly string[]): boolean {
  return topics.every((topic) => selectors.some((candidate) => candidate.matches(topic)));
}
