import type http from "node:http";
import { token } from "./gateway.ts";

export const APP_TOKEN_PATH = "/app/token";

/**
 * The application's own token endpoint, as the demo page's ?tokenUrl= expects it: the signed-in
 * user's token as `{ "token": "..." }`, signed with the secret the gateways share. Here the user
 * is whoever ?sub= names; a real application takes it from its session.
 */
export function serveAppTokens(request: http.IncomingMessage, response: http.ServerResponse): boolean {
  const url = new URL(request.url ?? "/", "http://front");
  if (url.pathname !== APP_TOKEN_PATH) return false;
  const ttlSeconds = Number(url.searchParams.get("ttl") ?? 3600);
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const claims =
    url.searchParams.get("role") === "publisher"
      ? { sub: "app-publisher", publish: ["*"] }
      : { sub: url.searchParams.get("sub") ?? "anonymous", topics: ["*"] };
  token(claims, { exp }).then((signed) => {
    response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify({ token: signed }));
  });
  return true;
}
