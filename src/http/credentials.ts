import { createHash, timingSafeEqual } from "node:crypto";
import { parseCookie } from "cookie";
import type { FastifyRequest } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { ApiError } from "./errors.ts";

export const TOKEN_COOKIE = "access_token";

/** The bearer token of an Authorization header, if it has one. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new AuthError(401, "authorization_malformed", 'the Authorization header must be "Bearer <token>"');
  return match[1];
}

/**
 * A subscriber's token: the Authorization header, else the access_token query parameter
 * (EventSource cannot set headers), else the access_token cookie.
 */
export function subscriberToken(request: FastifyRequest<{ Querystring: { access_token?: string } }>): string {
  // Cookies are parsed here, for this one route, rather than by a hook on every request.
  const cookies = request.headers.cookie;
  const token = bearerToken(request) ?? request.query.access_token ?? (cookies ? parseCookie(cookies)[TOKEN_COOKIE] : undefined);
  if (token === undefined || token === "") {
    throw new AuthError(
      401,
      "token_missing",
      "no token: send Authorization: Bearer <token>, the access_token query parameter, or the access_token cookie",
    );
  }
  return token;
}

/** A fixed bearer secret (METRICS_TOKEN), compared in constant time. */
export function requireStaticBearer(request: FastifyRequest, expected: string): void {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? "")?.[1];
  const digest = (text: string) => createHash("sha256").update(text).digest();
  if (given === undefined || !timingSafeEqual(digest(given), digest(expected))) {
    throw new ApiError("metrics_token_required", "send METRICS_TOKEN as Authorization: Bearer <token> to read /metrics", {
      "www-authenticate": 'Bearer realm="metrics"',
    });
  }
}

/**
 * Whether a page of another site than the gateway's own or one of CORS_ORIGINS sent the request.
 * Browsers send Origin on cross-origin EventSource requests; where it is absent (same-origin GETs,
 * and no-cors loads such as an <img>) Sec-Fetch-Site tells a cross-site load from a same-origin one.
 * Such a request's cookies are ambient: the user's, sent by somebody else's page.
 */
export function fromForeignPage(request: FastifyRequest, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined) return !allowedOrigins.includes(origin) && !isOwnOrigin(origin, request.host);
  const site = request.headers["sec-fetch-site"];
  return site === "cross-site" || site === "same-site";
}

/**
 * A stream only a cookie authenticates (no Authorization header, no access_token parameter) is
 * one any page the user visits could open, using up the user's stream slots: it must not come
 * from a foreign page. (With other credentials, such a page's cookie is not passed on either:
 * see subscriberRequest.)
 */
export function refuseCrossSiteCookieStream(
  request: FastifyRequest<{ Querystring: { access_token?: string } }>,
  fromForeign: boolean,
): void {
  if (!fromForeign || request.headers.cookie === undefined || request.headers.authorization !== undefined || request.query.access_token !== undefined) return;
  const origin = request.headers.origin;
  throw new ApiError(
    "origin_not_allowed",
    `a stream authenticated by cookie opens only from the gateway's own origin or one listed in CORS_ORIGINS, not from ${origin ?? `a ${request.headers["sec-fetch-site"]} page`}`,
  );
}

function isOwnOrigin(origin: string, host: string): boolean {
  try {
    // URL lowercases the origin's host; a Host header may come in any case.
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
