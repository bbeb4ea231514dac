import type { FastifyError, FastifyInstance } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { BusUnavailableError, IdempotencyConflictError } from "../bus/event-bus.ts";
import { PublishRequestError } from "../events/publish-request.ts";

/** A request the client must change; `code` is stable for programs. */
export class BadRequestError extends Error {
  override readonly name = "BadRequestError";
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Every error answers JSON `{ error, message }`; auth failures are counted; 5xx are logged. */
export function installErrorHandler(app: FastifyInstance, onAuthFailure: (code: string) => void): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AuthError) {
      onAuthFailure(error.code);
      if (error.status === 401) reply.header("www-authenticate", `Bearer error="invalid_token", error_description="${error.code}"`);
      return reply.code(error.status).send({ error: error.code, message: error.message });
    }
    if (error instanceof BadRequestError) return reply.code(400).send({ error: error.code, message: error.message });
    if (error instanceof PublishRequestError) return reply.code(400).send({ error: "invalid_body", message: error.message });
    if (error instanceof BusUnavailableError) {
      return reply.code(503).header("retry-after", "1").send({ error: "unavailable", message: error.message });
    }
    if (error instanceof IdempotencyConflictError) return reply.code(409).send({ error: "idempotency_conflict", message: error.message });
    if (error.validation) return reply.code(400).send({ error: "invalid_request", message: error.message });
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send({ error: "too_large", message: "the body is larger than MAX_EVENT_BYTES" });
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, "request failed");
    return reply.code(status).send({ error: status === 500 ? "internal" : "bad_request", message: status === 500 ? "internal error" : error.message });
  });
}
