import { URLPattern } from "node:url";
import { compileUriTemplate } from "./uri-template.ts";

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
  const template = text.includes("{") ? compileUriTemplate(text) : undefined;
  if (template) return { text, exact: false, matches: (topic) => topic === text || template.test(topic) };
  return { text, exact: true, matches: (topic) => topic === text };
}

/** The matcher types of the newer revision (draft-08): `match` and `match_exact` compare exactly, `match_urlpattern` is a URL Pattern. */
export type MatcherType = "exact" | "urlpattern";

/** Longest URL Pattern accepted: patterns compile to regular expressions, and a long one costs on every update. */
const MAX_PATTERN_CHARS = 1024;

/**
 * A matcher of the newer revision. `*` matches every topic whatever the type; relative URL
 * Patterns and topics are resolved against the hub's URL. Throws TypeError for a pattern the URL
 * Pattern standard refuses.
 */
export function matcher(type: MatcherType, text: string, hubUrl: string): Selector {
  if (text === ANY_TOPIC) return selector(ANY_TOPIC);
  if (type === "exact") return { text, exact: true, matches: (topic) => topic === text };
  if (text.length > MAX_PATTERN_CHARS) throw new TypeError(`a URL Pattern is at most ${MAX_PATTERN_CHARS} characters`);
  const pattern = new URLPattern(text, hubUrl);
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
