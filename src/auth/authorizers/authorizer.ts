import type { SubscriberPrincipal } from "../subscriber-principal.ts";

/** An answer larger than this, from either authorizer, is not an authorizer's answer. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The headers an authorizer sees; every other header of the stream request stays here. */
export const FORWARDED_HEADERS = ["cookie", "authorization", "origin", "user-agent", "x-forwarded-for"] as const;

export type ForwardedHeaders = Partial<Record<(typeof FORWARDED_HEADERS)[number], string>>;

/** What a stream open shows an authorizer: the credentials it carries and the topics it asks for. */
export interface AuthorizerRequest {
  /** Only the forwarded headers that are present. */
  readonly headers: ForwardedHeaders;
  /** Every query parameter (access_token included); a repeated one as a list. */
  readonly query: Readonly<Record<string, string | readonly string[]>>;
  readonly topics: readonly string[];
  /** The client's address: the last X-Forwarded-For hop (what the load balancer saw), else the peer. */
  readonly sourceIp: string;
  /** The gateway's id of the request (its log lines' reqId): a failed call is logged under it. */
  readonly requestId?: string;
}

/** An authorizer's answer about one request; failures to get one are thrown as AuthorizerFailure. */
export type AuthorizerDecision =
  | { readonly allowed: true; readonly principal: SubscriberPrincipal }
  | { readonly allowed: false; readonly status: 401 | 403; readonly message: string };

export type AuthorizerKind = "webhook" | "lambda";

/** One way of asking "who is this?": the webhook or the Lambda function. */
export interface Authorizer {
  readonly kind: AuthorizerKind;
  /** Asks once; must stop when the signal aborts. */
  decide(request: AuthorizerRequest, signal: AbortSignal): Promise<AuthorizerDecision>;
  /** Lets go of held connections, at shutdown. */
  close(): void;
}

/** Why no decision came back. `invalid_answer` is a 502 (the authorizer is broken); the others are 503s. */
export type AuthorizerFailureReason = "timeout" | "unreachable" | "bad_status" | "function_error" | "invoke_error" | "overloaded" | "invalid_answer";

/**
 * No decision: the authorizer could not be asked, or answered something unusable. `detail` is for
 * the log line and never holds what the client sent.
 */
export class AuthorizerFailure extends Error {
  override readonly name = "AuthorizerFailure";
  readonly reason: AuthorizerFailureReason;
  readonly detail: string;

  constructor(reason: AuthorizerFailureReason, detail: string) {
    super(reason === "invalid_answer" ? "the authorizer gave an answer the gateway cannot use" : "the authorizer could not be reached; try again");
    this.reason = reason;
    this.detail = detail;
  }

  get status(): 502 | 503 {
    return this.reason === "invalid_answer" ? 502 : 503;
  }

  get code(): "authorizer_invalid_answer" | "authorizer_unavailable" {
    return this.reason === "invalid_answer" ? "authorizer_invalid_answer" : "authorizer_unavailable";
  }
}

/** Counts for /metrics; the gateway's metrics implement it. */
export interface AuthorizerObserver {
  /** One call to the authorizer ended, after `seconds`. */
  called(kind: AuthorizerKind, outcome: "allow" | "deny" | "failure", seconds: number): void;
  /** A decision was served without a call: stored, or shared with an identical request in flight. */
  cacheHit(kind: AuthorizerKind, source: "stored" | "in_flight"): void;
  failed(kind: AuthorizerKind, reason: AuthorizerFailureReason): void;
}

/** Where failures are written: pino's shape. */
export interface AuthorizerLog {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
