import { createHash } from "node:crypto";
import { AuthError } from "../auth-error.ts";
import type { SubscriberPrincipal } from "../subscriber-principal.ts";
import {
  AuthorizerFailure,
  FORWARDED_HEADERS,
  type Authorizer,
  type AuthorizerDecision,
  type AuthorizerLog,
  type AuthorizerObserver,
  type AuthorizerRequest,
} from "./authorizer.ts";
import { DecisionCache } from "./decision-cache.ts";

export interface AuthorizerGateOptions {
  /** Longest a decision is reused (AUTH_WEBHOOK_CACHE_S); never past the grant's own expiresAt. */
  readonly cacheSeconds: number;
  /** A call without an answer after this long fails with 503 (AUTH_WEBHOOK_TIMEOUT_MS). */
  readonly timeoutMs: number;
  readonly observer: AuthorizerObserver;
  readonly log: AuthorizerLog;
  /** Decisions kept at most; past it the oldest makes room. */
  readonly maxEntries?: number;
  readonly maxConcurrentCalls?: number;
  readonly nowMs?: () => number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
/**
 * Characters of user ids, patterns and messages the stored decisions hold together (~10 MB):
 * 10,000 grants of 100 patterns of 256 characters would otherwise hold ~450 MB.
 */
const DEFAULT_MAX_CHARACTERS = 8 * 1024 * 1024;
/**
 * Calls in flight at most: a flood of opens with made-up credentials (each a distinct key) must
 * not become a flood on the application's authorizer, nor pile up sockets here. Past it, 503.
 */
const DEFAULT_MAX_CONCURRENT_CALLS = 256;

/**
 * The one way the gateway asks an authorizer: decisions cached per credential and shared by
 * identical requests in flight, each call bounded in time, failures counted and logged without
 * what the client sent. Denials are cached like grants: a client retrying a refused session in a
 * loop costs the authorizer nothing more.
 */
export class AuthorizerGate {
  readonly #authorizer: Authorizer;
  readonly #options: AuthorizerGateOptions;
  readonly #cache: DecisionCache<AuthorizerDecision>;
  readonly #nowMs: () => number;
  #callsInFlight = 0;

  constructor(authorizer: Authorizer, options: AuthorizerGateOptions) {
    this.#authorizer = authorizer;
    this.#options = options;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#cache = new DecisionCache(options.maxEntries ?? DEFAULT_MAX_ENTRIES, this.#nowMs, { weigh: decisionCharacters, max: DEFAULT_MAX_CHARACTERS });
  }

  /** The principal the authorizer grants; throws AuthError (refused) or AuthorizerFailure (no decision). */
  async authorize(request: AuthorizerRequest): Promise<SubscriberPrincipal> {
    const { kind } = this.#authorizer;
    const { value: decision, source } = await this.#cache.get(credentialKey(request), () => this.#call(request), (decision) => this.#ttlMs(decision));
    if (source !== "loaded") this.#options.observer.cacheHit(kind, source);
    if (!decision.allowed) throw new AuthError(decision.status, "authorizer_denied", decision.message);
    return decision.principal;
  }

  close(): void {
    this.#authorizer.close();
  }

  async #call(request: AuthorizerRequest): Promise<AuthorizerDecision> {
    const { kind } = this.#authorizer;
    const limit = this.#options.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS;
    if (this.#callsInFlight >= limit) {
      // No call is made, and no line logged (a flood would write one per open): the counter says it.
      this.#options.observer.failed(kind, "overloaded");
      throw new AuthorizerFailure("overloaded", `${limit} calls already in flight`);
    }
    const started = performance.now();
    const signal = AbortSignal.timeout(this.#options.timeoutMs);
    const timedOut = abortion(signal);
    this.#callsInFlight++;
    try {
      const decision = await Promise.race([this.#authorizer.decide(request, signal), timedOut.promise]);
      this.#options.observer.called(kind, decision.allowed ? "allow" : "deny", (performance.now() - started) / 1000);
      return decision;
    } catch (error) {
      const failure = this.#asFailure(error, signal);
      this.#options.observer.called(kind, "failure", (performance.now() - started) / 1000);
      this.#report(failure, request);
      throw failure;
    } finally {
      timedOut.cancel();
      this.#callsInFlight--;
    }
  }

  /** Under the id of the request that made the call (identical requests in flight share it). */
  #report(failure: AuthorizerFailure, request: AuthorizerRequest): void {
    const { kind } = this.#authorizer;
    this.#options.observer.failed(kind, failure.reason);
    const fields = { authorizer: kind, reason: failure.reason, detail: failure.detail, ...(request.requestId === undefined ? {} : { reqId: request.requestId }) };
    if (failure.status === 502) this.#options.log.error(fields, `${kind} authorizer answered something unusable: ${failure.detail}`);
    else this.#options.log.warn(fields, `${kind} authorizer failed (${failure.reason}): ${failure.detail}`);
  }

  #asFailure(error: unknown, signal: AbortSignal): AuthorizerFailure {
    if (error instanceof AuthorizerFailure) return error;
    if (signal.aborted) return new AuthorizerFailure("timeout", `no answer within ${this.#options.timeoutMs} ms`);
    // Only the error's kind: its text may quote a URL with a secret in it.
    return new AuthorizerFailure("unreachable", `the call failed (${error instanceof Error ? error.name : typeof error})`);
  }

  #ttlMs(decision: AuthorizerDecision): number {
    const cacheMs = this.#options.cacheSeconds * 1000;
    if (!decision.allowed || decision.principal.expiresAt === undefined) return cacheMs;
    return Math.min(cacheMs, decision.principal.expiresAt * 1000 - this.#nowMs());
  }
}

/**
 * The cache key: a digest of everything the decision can depend on, never the credential itself.
 * Headers and query are put in a fixed order so that one session is one key.
 */
export function credentialKey(request: AuthorizerRequest): string {
  const query = Object.keys(request.query).sort().map((name) => [name, request.query[name]]);
  const headers = FORWARDED_HEADERS.map((name) => request.headers[name] ?? null);
  const material = JSON.stringify([headers, query, request.topics, request.sourceIp]);
  return createHash("sha256").update(material).digest("base64url");
}

/** What a decision holds, in characters: its user id and patterns, or its message. */
function decisionCharacters(decision: AuthorizerDecision): number {
  if (!decision.allowed) return decision.message.length;
  return decision.principal.topicPatterns.reduce((sum, pattern) => sum + pattern.length, decision.principal.userId.length);
}

/**
 * Rejects when the signal aborts. `cancel` lets go of the listener: the timeout's signal lives
 * until it fires, and through the listener it would keep every answer of that long.
 */
function abortion(signal: AbortSignal): { promise: Promise<never>; cancel(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, cancel: () => signal.removeEventListener("abort", onAbort) };
}
