import { AuthorizerFailure, type AuthorizerDecision } from "./authorizer.ts";
import { grantDecision } from "./grant.ts";

export interface AnswerKeys {
  /** Dotted path to the user id (default principalId). */
  readonly userId: string;
  /** Dotted path to the topic patterns (default context.topics). */
  readonly topics: string;
}

/** Where an authorizer puts the grant's end, if it sets one. */
const EXPIRES_AT_KEY = "context.expiresAt";
/** What API Gateway answers a client an authorizer refused by policy (it sends 403 too). */
const POLICY_DENIED = "the authorizer's policy does not allow this request";
const SIMPLE_DENIED = "the authorizer did not authorize this request";

/**
 * Reads what a Lambda authorizer returned, in either of API Gateway's forms: an IAM policy
 * (`principalId`, `policyDocument`, `context`), evaluated against the event's methodArn as API
 * Gateway would, or the simple response (`isAuthorized`, `context`).
 */
export function lambdaDecision(answer: unknown, methodArn: string, keys: AnswerKeys, nowSeconds: number): AuthorizerDecision {
  if (!isRecord(answer)) throw invalid("the function returned no JSON object; expected an IAM policy answer or { isAuthorized, context }");
  if (typeof answer.isAuthorized === "boolean") {
    if (!answer.isAuthorized) return { allowed: false, status: 403, message: SIMPLE_DENIED };
  } else if (answer.policyDocument !== undefined) {
    if (!policyAllows(answer.policyDocument, methodArn)) return { allowed: false, status: 403, message: POLICY_DENIED };
  } else {
    throw invalid("the answer has neither `isAuthorized` (simple form) nor `policyDocument` (IAM policy form)");
  }
  const userId = valueAt(answer, keys.userId);
  if (userId === undefined && typeof answer.isAuthorized === "boolean") {
    throw invalid(`the simple answer has no user id at \`${keys.userId}\`: return it in the context and name it with AUTH_LAMBDA_USER_ID_KEY (e.g. context.userId)`);
  }
  return grantDecision(
    { userId, topics: topicList(valueAt(answer, keys.topics), keys.topics), expiresAt: valueAt(answer, EXPIRES_AT_KEY) },
    { userId: keys.userId, topics: keys.topics, expiresAt: EXPIRES_AT_KEY },
    nowSeconds,
  );
}

/** IAM's rule: an explicit Deny wins, else an Allow is needed, of execute-api:Invoke on this resource. */
function policyAllows(document: unknown, methodArn: string): boolean {
  if (!isRecord(document)) throw invalid("`policyDocument` must be an object with a `Statement`");
  const raw = document.Statement;
  const statements = Array.isArray(raw) ? raw : [raw];
  let allowed = false;
  for (const statement of statements) {
    if (!isRecord(statement) || (statement.Effect !== "Allow" && statement.Effect !== "Deny")) {
      throw invalid('each policy statement needs `Effect` "Allow" or "Deny"');
    }
    const applies =
      anyMatches(statement.Action, "execute-api:Invoke", "Action", true) && anyMatches(statement.Resource, methodArn, "Resource", false);
    if (applies && statement.Effect === "Deny") return false;
    if (applies) allowed = true;
  }
  return allowed;
}

function anyMatches(patterns: unknown, value: string, field: string, ignoreCase: boolean): boolean {
  const list = typeof patterns === "string" ? [patterns] : patterns;
  if (!Array.isArray(list) || !list.every((pattern) => typeof pattern === "string")) {
    throw invalid(`a policy statement's \`${field}\` must be a string or a list of strings`);
  }
  return list.some((pattern) => iamMatches(pattern, value, ignoreCase));
}

/**
 * IAM wildcards: `*` any run of characters, `?` any one character. Matched by walking both strings
 * once per retry of the last `*` (at most pattern x value steps): a regular expression built from
 * a pattern like `?*?*?*...` backtracks exponentially and would stall every stream of the gateway.
 */
export function iamMatches(pattern: string, value: string, ignoreCase: boolean): boolean {
  const wanted = ignoreCase ? pattern.toLowerCase() : pattern;
  const given = ignoreCase ? value.toLowerCase() : value;
  let p = 0;
  let v = 0;
  let lastStar = -1;
  let resumeAt = 0;
  while (v < given.length) {
    if (p < wanted.length && (wanted[p] === "?" || wanted[p] === given[v])) {
      p++;
      v++;
    } else if (p < wanted.length && wanted[p] === "*") {
      lastStar = p++;
      resumeAt = v;
    } else if (lastStar >= 0) {
      p = lastStar + 1;
      v = ++resumeAt;
    } else {
      return false;
    }
  }
  while (wanted[p] === "*") p++;
  return p === wanted.length;
}

/** Context values are strings in API Gateway: a comma list, or a JSON array in a string. Real lists are taken too. */
function topicList(value: unknown, key: string): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (!text.startsWith("[")) return text.split(",").map((topic) => topic.trim()).filter((topic) => topic !== "");
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(`\`${key}\` starts with "[" but is not a JSON array`);
  }
}

function valueAt(answer: Record<string, unknown>, path: string): unknown {
  let value: unknown = answer;
  for (const key of path.split(".")) {
    if (!isRecord(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(detail: string): AuthorizerFailure {
  return new AuthorizerFailure("invalid_answer", detail);
}
