import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { signDevToken } from "../auth/dev-tokens.ts";
import { USER_ID_PATTERN, USER_ID_RULE } from "../events/channels.ts";

const page = readFileSync(new URL("./demo/index.html", import.meta.url));
const script = readFileSync(new URL("./demo/demo.js", import.meta.url));
/** The browser client as it is published (client/dist, built by `npm run build:client`). */
const client = {
  "index.js": readFileSync(new URL("../../client/dist/index.js", import.meta.url)),
  "worker.js": readFileSync(new URL("../../client/dist/worker.js", import.meta.url)),
};

function pageSchema(summary: string, type: string) {
  return { summary, tags: ["demo"], response: { 200: { description: summary, content: { [type]: { schema: { type: "string" } } } } } };
}

export interface DemoRoutesOptions {
  /** DEMO_PAGE: the demo page itself; the browser client's files are served either way. */
  readonly page: boolean;
}

/** The demo page: plain HTML and a script on the browser client, no build step. */
export async function demoRoutes(app: FastifyInstance, options: DemoRoutesOptions): Promise<void> {
  if (options.page) {
    app.get("/", { schema: pageSchema("The demo page", "text/html") }, async (_request, reply) => reply.type("text/html; charset=utf-8").send(page));
    app.get("/demo.js", { schema: pageSchema("The demo page's script", "text/javascript") }, async (_request, reply) => reply.type("text/javascript; charset=utf-8").send(script));
  }
  for (const [name, code] of Object.entries(client)) {
    app.get(`/client/${name}`, { schema: pageSchema(`The browser client's ${name}`, "text/javascript") }, async (_request, reply) => reply.type("text/javascript; charset=utf-8").send(code));
  }
}

export interface DevTokenRouteOptions {
  readonly secret: Uint8Array;
}

interface DevTokenQuery {
  role: "subscriber" | "publisher";
  sub?: string;
  ttl: number;
}

/** GET /dev/token: tokens signed with the development secret; only exists in development mode. */
export async function devTokenRoute(app: FastifyInstance, options: DevTokenRouteOptions): Promise<void> {
  app.get<{ Querystring: DevTokenQuery }>(
    "/dev/token",
    {
      schema: {
        summary: "Development mode only: a token signed with the ephemeral secret",
        tags: ["demo"],
        querystring: {
          type: "object",
          properties: {
            role: { type: "string", enum: ["subscriber", "publisher"], default: "subscriber" },
            sub: {
              type: "string",
              pattern: USER_ID_PATTERN,
              description: `The token's \`sub\` (${USER_ID_RULE}); default demo-user, or demo-publisher for a publisher`,
            },
            ttl: { type: "integer", minimum: 1, maximum: 86_400, default: 3600, description: "Lifetime in seconds" },
          },
        },
        response: {
          200: {
            description: "A subscriber token (topics `*`) or a publisher token (publish `*`)",
            type: "object",
            required: ["token"],
            properties: { token: { type: "string" } },
          },
        },
      },
    },
    async (request) => {
      const { role, sub, ttl } = request.query;
      const claims = role === "publisher" ? { sub: sub ?? "demo-publisher", publish: ["*"] } : { sub: sub ?? "demo-user", topics: ["*"] };
      return { token: await signDevToken(options.secret, claims, ttl) };
    },
  );
}
