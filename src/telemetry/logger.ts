import type { FastifyServerOptions } from "fastify";

/** Query parameters that carry credentials: their values never reach a log line. */
const SECRET_PARAMS = /([?&](?:access_token|token)=)[^&#]*/gi;

export function redactQuery(url: string): string {
  return url.replace(SECRET_PARAMS, "$1[redacted]");
}

/** pino options for fastify: JSON lines, request ids, and no tokens from headers, cookies or query strings. */
export function loggerOptions(level: string): NonNullable<FastifyServerOptions["logger"]> {
  return {
    level,
    redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" },
    serializers: {
      req(request: { method: string; url: string; id: string; ip?: string }) {
        return { id: request.id, method: request.method, url: redactQuery(request.url), remoteAddress: request.ip };
      },
    },
  };
}
