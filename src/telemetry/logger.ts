import type { DestinationStream } from "pino";
import type { FastifyServerOptions } from "fastify";

/**
 * Query parameters whose values are logged. Every other parameter is logged as "[redacted]",
 * name and value: a token travels under whatever spelling the query parser decodes to
 * `access_token` (`access%5Ftoken`, `%61ccess_token`), under another route's name for it, or in
 * a parameter nobody expected, so only what is known to be harmless is written.
 */
const LOGGED_PARAMS = new Set(["topic", "lastEventId"]);

/**
 * A run of this many base64url characters may be a token's signature (43 and more for every
 * algorithm the gateway takes): a mistyped URL can put a token in the path or in a topic.
 */
const SIGNATURE_LIKE = /[A-Za-z0-9_-]{32,}/g;

/** The URL as a log line may show it: the path, and the query with only harmless values. */
export function loggableUrl(url: string): string {
  const at = url.indexOf("?");
  if (at < 0) return hideSignatures(url);
  const shown: string[] = [];
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
    shown.push(LOGGED_PARAMS.has(name) ? `${encodeURIComponent(name)}=${encodeURIComponent(value)}` : "[redacted]");
  }
  return hideSignatures(`${url.slice(0, at)}?${shown.join("&")}`);
}

function hideSignatures(text: string): string {
  return text.replace(SIGNATURE_LIKE, "[redacted]");
}

/**
 * Levels at which every request gets fastify's two lines ("incoming request", "request
 * completed"). At info they cost 15-35 % of a publish's CPU and one line per stream open, which is
 * what users run by default: there a request is logged only when it fails with a 5xx.
 */
const REQUEST_LINE_LEVELS = new Set(["debug", "trace"]);

/** fastify's `disableRequestLogging`, from the logger options the server is given. */
export function requestLinesOff(logger: FastifyServerOptions["logger"]): boolean {
  const level = typeof logger === "object" && logger !== null ? logger.level : undefined;
  return level === undefined || !REQUEST_LINE_LEVELS.has(level);
}

/** pino options for fastify: JSON lines, request ids, and no tokens from headers, cookies or query strings. */
export function loggerOptions(level: string, stream?: DestinationStream): NonNullable<FastifyServerOptions["logger"]> {
  return {
    level,
    ...(stream ? { stream } : {}),
    redact: { paths: ["req.headers.authorization", "req.headers.cookie"], censor: "[redacted]" },
    serializers: {
      req(request: { method: string; url: string; id: string; ip?: string }) {
        return { id: request.id, method: request.method, url: loggableUrl(request.url), remoteAddress: request.ip };
      },
    },
  };
}
