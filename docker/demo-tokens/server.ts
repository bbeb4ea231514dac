// Local stack only: serves GET /dev/token like a gateway in development mode, but
// signed with the stack's shared JWT_SECRET, so the demo page can connect to the
// gateway replicas (which run in production mode and have no /dev/token).
import { createServer } from "node:http";
import { signDevToken } from "../../src/auth/dev-tokens.ts";
import { jwtSecretsFrom } from "../../src/config/config.ts";

const MAX_TTL_SECONDS = 86_400;
const secret = process.env.JWT_SECRET;
if (!secret) throw new Error("JWT_SECRET is required");
// A comma list during a rotation: the first secret signs, as the gateway expects.
const [key] = jwtSecretsFrom(secret) as [Uint8Array];

async function tokenFor(query: URLSearchParams): Promise<string> {
  const ttl = Math.min(Math.max(Number(query.get("ttl") ?? 3600) || 3600, 1), MAX_TTL_SECONDS);
  if (query.get("role") === "publisher") return signDevToken(key, { sub: "demo-publisher", publish: ["*"] }, ttl);
  return signDevToken(key, { sub: query.get("sub") || "demo-user", topics: ["*"] }, ttl);
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? "/", "http://localhost");
  if (url.pathname === "/healthz") {
    response.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    return;
  }
  if (url.pathname !== "/dev/token") {
    response.writeHead(404).end();
    return;
  }
  tokenFor(url.searchParams).then(
    (token) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token })),
    () => response.writeHead(500).end(),
  );
});
server.listen(Number(process.env.PORT ?? 8090), process.env.HOST ?? "127.0.0.1");
process.once("SIGTERM", () => server.close(() => process.exit(0)));
