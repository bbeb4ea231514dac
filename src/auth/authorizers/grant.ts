import { isUsableUserId } from "../subscriber-principal.ts";
import { AuthorizerFailure, type AuthorizerDecision } from "./authorizer.ts";

/** Fields of an authorizer's "allow" answer, before checking, and the names they had there (for messages). */
export interface GrantFields {
  readonly userId: unknown;
  readonly topics: unknown;
  readonly expiresAt: unknown;
}

export interface GrantFieldNames {
  readonly userId: string;
  readonly topics: string;
  readonly expiresAt: string;
}

/** Bounds what one cached decision can hold: 100 patterns of 256 characters, at most ~26 KB. */
const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 256;
/** Unix seconds stay below this until the year 5138; a larger value is milliseconds sent by mistake. */
const LATEST_PLAUSIBLE_SECONDS = 1e11;

/**
 * Checks an "allow" answer: a user id like a JWT `sub`, a list of topic patterns (none: private
 * events only), and an optional expiry in unix seconds. A grant already expired is a refusal.
 */
export function grantDecision(fields: GrantFields, names: GrantFieldNames, nowSeconds: number): AuthorizerDecision {
  const userId = typeof fields.userId === "number" && Number.isSafeInteger(fields.userId) ? String(fields.userId) : fields.userId;
  if (!isUsableUserId(userId)) throw invalid(`\`${names.userId}\` must be the user id: 1 to 256 printable characters of well-formed Unicode`);
  const topics = fields.topics ?? [];
  if (!Array.isArray(topics) || topics.length > MAX_PATTERNS || !topics.every((topic) => typeof topic === "string" && topic.length <= MAX_PATTERN_LENGTH)) {
    throw invalid(`\`${names.topics}\` must be a list of at most ${MAX_PATTERNS} topic patterns, strings of up to ${MAX_PATTERN_LENGTH} characters`);
  }
  const expiresAt = expiry(fields.expiresAt, names.expiresAt);
  if (expiresAt !== undefined && expiresAt <= nowSeconds) {
    return { allowed: false, status: 401, message: "the authorizer's grant has already expired (`expiresAt` is past); sign in again" };
  }
  return { allowed: true, principal: { userId, topicPatterns: topics as string[], expiresAt } };
}

function expiry(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) {
    throw invalid(`\`${name}\` must be a time in unix seconds`);
  }
  if (seconds >= LATEST_PLAUSIBLE_SECONDS) throw invalid(`\`${name}\` looks like milliseconds; send unix seconds`);
  return seconds;
}

function invalid(detail: string): AuthorizerFailure {
  return new AuthorizerFailure("invalid_answer", detail);
}
