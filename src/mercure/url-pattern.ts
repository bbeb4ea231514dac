import { URLPattern } from "node:url";

/** Longest URL Pattern accepted: patterns compile to regular expressions, and a long one costs on every update. */
export const MAX_PATTERN_CHARS = 1024;

/** The components a URL Pattern matches separately, each with its own regular expression, and what splits it into segments. */
const COMPONENTS = [
  ["protocol", undefined],
  ["username", undefined],
  ["password", undefined],
  ["hostname", "."],
  ["port", undefined],
  ["pathname", "/"],
  ["search", undefined],
  ["hash", undefined],
] as const;

const NAME_START = /[$_\p{ID_Start}]/u;
const NAME_PART = /[$_\u200C\u200D\p{ID_Continue}]/u;

/**
 * A subscriber's URL Pattern, refused (TypeError) when matching it could take more than linear
 * time. URLPattern tests with V8's backtracking engine: two parts of one component that can match
 * the same characters (`*e*e*e`, `:a-:b`, `{x}?{x}?`) make a test cost O(n^k) on a crafted or
 * merely unlucky topic (`https://example.com/*e*e*e*e*e*e*e*e*e*e*e*eQ` took 31 s on a 40-character
 * one, holding the whole instance), and regular expression groups can do anything. So: no regular
 * expression groups, at most one `*` wildcard per component, and at most one variable part (`*`,
 * `:name`, a `?`/`+`/`*` modifier) per segment: between `/` in the path, `.` in the host name, the
 * whole of any other component. A segment group (`:name`) cannot cross its segment's end, so each
 * then has one way to match.
 */
export function urlPattern(text: string, hubUrl: string): URLPattern {
  if (text.length > MAX_PATTERN_CHARS) throw new TypeError(`a URL Pattern is at most ${MAX_PATTERN_CHARS} characters`);
  const pattern = new URLPattern(text, hubUrl);
  if (pattern.hasRegExpGroups) throw new TypeError("regular expression groups are not accepted in a URL Pattern");
  for (const [component, separator] of COMPONENTS) checkComponent(pattern[component], separator, component);
  return pattern;
}

function checkComponent(source: string, separator: string | undefined, component: string): void {
  let wildcards = 0;
  let inSegment = 0;
  // Whether the previous token can take a modifier (a name, a wildcard, a group's end).
  let modifiable = false;
  const variablePart = () => {
    if (++inSegment > 1) {
      throw new TypeError(`a URL Pattern holds at most one variable part (*, :name, a ?, + or * modifier) per ${separator === undefined ? component : `${component} segment`}`);
    }
  };
  for (let at = 0; at < source.length; ) {
    const character = source[at]!;
    if (character === "\\") {
      if (source[at + 1] === separator) inSegment = 0;
      modifiable = false;
      at += 2;
    } else if (character === separator) {
      inSegment = 0;
      modifiable = false;
      at++;
    } else if (character === ":" && NAME_START.test(source[at + 1] ?? "")) {
      at += 2;
      while (at < source.length && NAME_PART.test(source[at]!)) at++;
      variablePart();
      modifiable = true;
    } else if (character === "*" || character === "?" || character === "+") {
      if (character === "*" && !modifiable && ++wildcards > 1) throw new TypeError(`a URL Pattern holds at most one * wildcard per component (${component})`);
      variablePart();
      modifiable = character === "*" && !modifiable;
      at++;
    } else {
      modifiable = character === "}";
      at++;
    }
  }
}
