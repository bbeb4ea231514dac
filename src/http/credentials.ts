import { parseCookie } from "cookie";
import type { FastifyRequest } from "fastify";
import { AuthError } from "../auth/auth-error.ts";

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
