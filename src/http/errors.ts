import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { AuthorizerFailure } from "../auth/authorizers/authorizer.ts";
import { KeySetUnavailableError } from "../auth/remote-key-set.ts";
import { BusOutcomeUnknownError, BusRejectedError, BusUnavailableError, IdempotencyConflictError } from "../bus/event-bus.ts";
import { PublishRequestError } from "../events/publish-request.ts";
import { describeViolation, type SchemaViolation } from "../validation-message.ts";

interface ErrorSpec {
  readonly status: number;
  /** When it is answered, for the README and /openapi.json. */
  readonly when: string;
}

/**
 * Every error code the HTTP API answers, with its status. Every error answer is exactly
 * `{ "error": <code>, "message": <what to do> }`. A new code is one line here (and its README row).
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, when: "a query parameter or header is invalid; the message names it and what it must be" },
  invalid_body: { status: 400, when: "the publish body breaks a rule (unknown field, wrong type, no recipient, `data` too large); the message names the field" },
  invalid_json: { status: 400, when: "the body is not JSON, or is empty although `Content-Type` says JSON" },
  invalid_url: { status: 400, when: "the URL cannot be decoded" },
  bad_request: { status: 400, when: "the request is not well-formed HTTP" },
  token_missing: { status: 401, when: "no token was sent" },
  authorization_malformed: { status: 401, when: 'the `Authorization` header is not "Bearer <token>"' },
  token_malformed: { status: 401, when: "the token is not a well-formed JWT" },
  token_expired: { status: 401, when: "the token's `exp` has passed" },
  token_bad_signature: { status: 401, when: "the token's signature does not verify with the gateway's key" },
  token_algorithm_not_allowed: { status: 401, when: "the token is signed with an algorithm the gateway does not accept" },
  token_wrong_aud: { status: 401, when: "the token's `aud` is not `JWT_AUDIENCE`" },
  token_wrong_iss: { status: 401, when: "the token's `iss` is not `JWT_ISSUER`" },
  token_wrong_nbf: { status: 401, when: "the token's `nbf` is in the future" },
  token_wrong_iat: { status: 401, when: "the token's `iat` is not a number" },
  token_wrong_exp: { status: 401, when: "the token's `exp` is not a number" },
  token_subject_invalid: { status: 401, when: "the token has no usable `sub` (1 to 256 printable characters of well-formed Unicode)" },
  token_claim_invalid: { status: 401, when: "the token has no `exp`, lives longer than `MAX_TOKEN_LIFETIME_S`, or its topics or `publish` claim is not a list of strings" },
  mercure_invalid_token: { status: 401, when: "a Mercure token (at /.well-known/mercure) does not verify with its role's key, has expired, or its `mercure` claim is not well-formed" },
  token_unknown_key: { status: 401, when: "no key of the JWKS matches the token's `kid`" },
  metrics_token_required: { status: 401, when: "`METRICS_TOKEN` is set and the request to /metrics does not carry it as a bearer token" },
  topic_not_allowed: { status: 403, when: "a `topic` asked for is not allowed by the token's topics claim, or by the authorizer's answer" },
  authorizer_denied: { status: 403, when: "the authorizer (`AUTH_WEBHOOK_URL` or `AUTH_LAMBDA_ARN`) refused the session; its own status (401 or 403) and message are passed on" },
  publish_not_allowed: { status: 403, when: "the token has no `publish` claim, or it does not allow a recipient (Mercure: the token's publish selectors do not allow every topic of the update, or a topic is under `/.well-known/mercure`)" },
  subscriptions_not_allowed: { status: 403, when: "a Mercure subscriber token's `mercure.subscribe` selectors do not match the subscriptions API URL asked for" },
  origin_not_allowed: { status: 403, when: "a stream authenticated by cookie alone is opened, or a Mercure form published with the `mercureAuthorization` cookie, from another site than the gateway's own or one of `CORS_ORIGINS`" },
  not_found: { status: 404, when: "no route has this method and path" },
  request_timeout: { status: 408, when: "the request did not arrive whole, headers and body, within `REQUEST_TIMEOUT_MS`; the connection is closed" },
  idempotency_conflict: { status: 409, when: "the publish `id` was already used, within `IDEMPOTENCY_WINDOW_MS`, for an event with other content" },
  too_large: { status: 413, when: "the body is larger than `MAX_EVENT_BYTES`" },
  batch_too_large: {
    status: 413,
    when: "a `POST /publish/batch` body is larger than 1 MiB (or `MAX_EVENT_BYTES` when that is larger), or its events name more than `MAX_BATCH_RECIPIENTS` recipients together",
  },
  unsupported_media_type: { status: 415, when: "the body is not `application/json` (a Mercure publish: not the form, `application/x-www-form-urlencoded`)" },
  too_many_streams: { status: 429, when: "the user has too many open streams, or opened too many in the last minute (with `Retry-After`)" },
  header_too_large: { status: 431, when: "the request's headers are too large" },
  internal: { status: 500, when: "an unexpected failure; the message carries the request id to look for in the logs" },
  bus_rejected: { status: 500, when: "the bus refused this very event for good (a script error, a Redis key of the wrong type: the message says which); nothing was accepted, and retrying it does not help until an operator fixes the cause" },
  authorizer_invalid_answer: { status: 502, when: "the authorizer answered something unusable (the log line says what); nothing to retry until it is fixed" },
  authorizer_unavailable: { status: 503, when: "the authorizer timed out (`AUTH_WEBHOOK_TIMEOUT_MS`) or failed; retry after `Retry-After`" },
  jwks_unavailable: { status: 503, when: "the key set at `JWKS_URL` cannot be fetched and no keys are held yet; retry after `Retry-After`" },
  unavailable: { status: 503, when: "the instance is draining or full, or the bus cannot take the event: nothing was accepted; retry (with `Retry-After`)" },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** An error answer: its code (and so its status) from the table, a message, optional headers. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  /** The table's status, unless the code passes on another's (authorizer_denied: the authorizer's 401 or 403). */
  readonly status: number;

  constructor(code: ErrorCode, message: string, headers: Readonly<Record<string, string>> = {}, status: number = ERROR_CODES[code].status) {
    super(message);
    this.code = code;
    this.headers = headers;
    this.status = status;
  }
}

/** The JSON schema of every error answer, for route schemas and /openapi.json. */
export const errorResponseSchema = {
  $id: "Error",
  type: "object",
  description: "Every error answer has exactly this shape.",
  additionalProperties: false,
  required: ["error", "message"],
  properties: {
    error: { type: "string", enum: Object.keys(ERROR_CODES), description: "A stable snake_case code (see the README's error table)" },
    message: { type: "string", description: "What went wrong and what to do, for developers" },
  },
} as const;

/**
 * Every error the app answers goes through here: route errors, fastify's own (404, 413, 415,
 * bad JSON, validation, bad URLs) and malformed HTTP. Auth failures are counted; 5xx are logged.
 */
export function installErrorHandler(app: FastifyInstance, onAuthFailure: (code: string) => void): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AuthError) onAuthFailure(error.code);
    if (error instanceof KeySetUnavailableError) onAuthFailure("jwks_unavailable");
    return sendError(reply, toApiError(error, request));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?", 1)[0]!.slice(0, 200);
    return sendError(reply, new ApiError("not_found", `no route ${request.method} ${path}; /openapi.json lists the routes`));
  });
}

/** fastify's `frameworkErrors` option: URLs the router cannot decode. */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, error.code === "FST_ERR_BAD_URL" ? new ApiError("invalid_url", "the URL cannot be decoded") : toApiError(error, request));
}

/** Node's HTTP parser and timeouts: the error code, and what to tell the client. */
const CLIENT_ERRORS: Readonly<Record<string, readonly [ErrorCode, string]>> = {
  HPE_HEADER_OVERFLOW: ["header_too_large", "the request's headers are larger than the server accepts"],
  ERR_HTTP_REQUEST_TIMEOUT: ["request_timeout", "the request did not arrive whole (headers and body) within REQUEST_TIMEOUT_MS"],
};

/** fastify's `clientErrorHandler` option: HTTP the server cannot parse gets the same shape. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [code, message] = (error.code && CLIENT_ERRORS[error.code]) || ["bad_request", `the request is not well-formed HTTP (${error.code ?? "parse error"})`];
  const { status } = ERROR_CODES[code];
  const body = JSON.stringify({ error: code, message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${code}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

function toApiError(error: FastifyError, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof AuthError) return authError(error, request);
  if (error instanceof KeySetUnavailableError) {
    return new ApiError("jwks_unavailable", error.message, { "retry-after": String(error.retryAfterSeconds) });
  }
  if (error instanceof AuthorizerFailure) {
    return new ApiError(error.code, error.message, error.status === 503 ? { "retry-after": String(authorizerRetryAfterSeconds()) } : {});
  }
  if (error instanceof PublishRequestError) return new ApiError("invalid_body", error.message);
  if (error instanceof IdempotencyConflictError) {
    return new ApiError("idempotency_conflict", `${error.message}: publish other content under a new \`id\``);
  }
  if (error instanceof BusOutcomeUnknownError) return new ApiError("unavailable", mayHaveBeenTaken(error), { "retry-after": "1" });
  if (error instanceof BusUnavailableError) return new ApiError("unavailable", error.message, { "retry-after": "1" });
  if (error instanceof BusRejectedError) {
    request.log.error({ err: error }, "the bus refused a request for good");
    return new ApiError("bus_rejected", `${error.message}: retrying the same event does not help until the cause is fixed`);
  }
  if (error.validation) return validationError(error.validation as SchemaViolation[], error.validationContext);
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new ApiError("too_large", "the body is larger than MAX_EVENT_BYTES");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new ApiError("unsupported_media_type", `send the body as Content-Type: application/json, not ${JSON.stringify((request.headers["content-type"] ?? "").slice(0, 100))}`);
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new ApiError("invalid_json", "the body is empty although Content-Type says application/json");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new ApiError("invalid_json", "the body is not valid JSON");
  }
  if (error instanceof SyntaxError) return new ApiError("invalid_json", `the body is not valid JSON: ${error.message}`);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new ApiError("bad_request", error.message);
  request.log.error({ err: error }, "request failed");
  return new ApiError("internal", `internal error; the logs have it under request id ${request.id}`);
}

/** What a publisher is told of an event whose bus call timed out: the body's `id` keeps a retry one event. */
export function mayHaveBeenTaken(error: BusOutcomeUnknownError): string {
  return `${error.message}: Redis may still carry it out, so the event may have been taken; retry it with the same \`id\`, which keeps it one event`;
}

function authError(error: AuthError, request: FastifyRequest): ApiError {
  if (isErrorCode(error.code)) return new ApiError(error.code, error.message, authHeaders(error), error.status);
  // A code missing from the table is a bug in the gateway, which the error-shape tests look for.
  request.log.error({ code: error.code }, "error code missing from ERROR_CODES in src/http/errors.ts");
  return new ApiError("internal", `internal error; the logs have it under request id ${request.id}`);
}

function authHeaders(error: AuthError): Record<string, string> {
  return error.status === 401 ? { "www-authenticate": `Bearer error="invalid_token", error_description="${error.code}"` } : {};
}

function validationError(violations: readonly SchemaViolation[], context: string | undefined): ApiError {
  const where = context === "querystring" ? "query" : (context ?? "request");
  const message = violations[0] ? describeViolation(violations[0], where) : `the ${where} is invalid`;
  return new ApiError(context === "body" ? "invalid_body" : "invalid_request", message);
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send({ error: error.code, message: error.message });
}

/** 1 to 3 s: clients refused together by an authorizer outage do not all come back in the same second. */
function authorizerRetryAfterSeconds(): number {
  return 1 + Math.floor(Math.random() * 3);
}
