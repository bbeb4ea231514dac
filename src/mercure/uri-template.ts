import v8 from "node:v8";

/**
 * Matching topics against RFC 6570 URI Templates (levels 1 to 4), as Mercure topic selectors use
 * them: `https://example.com/books/{id}` matches `https://example.com/books/1`, not
 * `https://example.com/books/1/reviews`. A template becomes one anchored regular expression, built
 * once per selector. Each expression matches what its expansion can produce for any values,
 * including none (an undefined variable expands to nothing); exploded variables (`*`) and
 * prefixes (`:n`) match any number of characters of their kind.
 */

// Templates come from subscribers, and adjacent expressions make a regular expression that can
// backtrack for ages on a crafted topic. V8 then falls back to its linear-time engine (the
// templates' expressions have no backreferences or lookarounds, which that engine lacks).
v8.setFlagsFromString("--enable-experimental-regexp-engine-on-excessive-backtracks");

const UNRESERVED = "[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2}";
/** `+` and `#` expansions keep reserved characters as they are. */
const RESERVED = `${UNRESERVED}|[:/?#\\[\\]@!$&'()*+,;=]`;

interface Operator {
  readonly first: string;
  readonly separator: string;
  /** `;`, `?` and `&` write `name=value`. */
  readonly named: boolean;
  readonly allowed: string;
}

const OPERATORS: Readonly<Record<string, Operator>> = {
  "": { first: "", separator: ",", named: false, allowed: UNRESERVED },
  "+": { first: "", separator: ",", named: false, allowed: RESERVED },
  "#": { first: "#", separator: ",", named: false, allowed: RESERVED },
  ".": { first: ".", separator: ".", named: false, allowed: UNRESERVED },
  "/": { first: "/", separator: "/", named: false, allowed: UNRESERVED },
  ";": { first: ";", separator: ";", named: true, allowed: UNRESERVED },
  "?": { first: "?", separator: "&", named: true, allowed: UNRESERVED },
  "&": { first: "&", separator: "&", named: true, allowed: UNRESERVED },
};

const VARIABLE = /^((?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*)(\*|:[1-9][0-9]{0,3})?$/;
const EXPRESSION = /\{([^{}]*)\}/g;

/** Whether the text holds at least one expression, so that it is a template and not only a string. */
export function isUriTemplate(text: string): boolean {
  return text.includes("{") && compileUriTemplate(text) !== undefined;
}

/** The template's matcher, or undefined when it is not a well-formed template (then it is only an exact string). */
export function compileUriTemplate(template: string): RegExp | undefined {
  let pattern = "";
  let at = 0;
  for (const match of template.matchAll(EXPRESSION)) {
    const literal = template.slice(at, match.index);
    if (/[{}]/.test(literal)) return undefined;
    pattern += escapeLiteral(literal);
    const expression = expressionPattern(match[1]!);
    if (expression === undefined) return undefined;
    pattern += expression;
    at = match.index + match[0].length;
  }
  const rest = template.slice(at);
  if (/[{}]/.test(rest)) return undefined;
  return new RegExp(`^${pattern}${escapeLiteral(rest)}$`);
}

function expressionPattern(body: string): string | undefined {
  const operator = OPERATORS[body[0] ?? ""] ? body[0]! : "";
  const spec = OPERATORS[operator]!;
  const names = body.slice(operator.length).split(",");
  const parts: string[] = [];
  for (const name of names) {
    const variable = VARIABLE.exec(name);
    if (!variable) return undefined;
    const exploded = variable[2] === "*";
    // An exploded list or map repeats the separator (and `=`, `,`) inside the one variable.
    const valueChars = exploded ? `(?:${spec.allowed}|[${escapeClass(spec.separator)},=])` : `(?:${spec.allowed})`;
    parts.push(spec.named && !exploded ? `${escapeLiteral(variable[1]!)}(?:=${valueChars}*)?` : `${valueChars}*`);
  }
  // Any of the variables may be undefined, and then neither it nor its separator is written.
  const alternatives = [...new Set(parts)];
  const one = alternatives.length === 1 ? alternatives[0]! : `(?:${alternatives.join("|")})`;
  const more = parts.length === 1 ? "" : `(?:${escapeLiteral(spec.separator)}${one}){0,${parts.length - 1}}`;
  return `(?:${escapeLiteral(spec.first)}${one}${more})?`;
}

function escapeLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function escapeClass(text: string): string {
  return text.replace(/[\]\\^-]/g, "\\$&");
}
