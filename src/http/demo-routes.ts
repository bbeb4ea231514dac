import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { signDevToken } from "../auth/dev-tokens.ts";
import { USER_ID_PATTERN } from "../events/channels.ts";

const page = readFileSync(new URL("./demo/index.html", import.meta.url));
const script = readFileSync(new URL("./demo/demo.js", import.meta.url));
/** The browser client as it is published (client/dist, built by `npm run build:client`). */
const client = {
  "index.js": readFileSync(new URL("../../client/dist/index.js", import.meta.url)),
  "worker.js": readFileSync(new URL("../../client/dist/worker.js", import.meta.url)),
};

/** The demo page: plain HTML and a script on the browser client, no build step. */
export async function demoRoutes(app: FastifyInstance): Promise<void> {
  app.get("/", async (_request, reply) => reply.type("text/html; charset=utf-8").send(page));
  app.get("/demo.js", async (_request, reply) => reply.type("text/javascript; charset=utf-8").send(script));
  for (const [name, code] of Object.entries(client)) {
    app.get(`/client/${name}`, async (_request, reply) => reply.type("text/javascript; charset=utf-8").send(code));
  }
}

export interface DevTokenRouteOptions {
  readonly secret: Uint8Array;
}

interface DevTokenQuery {
  role: "subscriber" | "publisher";
  sub: string;
  ttl: number;
}

/** GET /dev/token: tokens signed with the development secret; only exists in development mode. */
export async function devTokenRoute(app: FastifyInstance, options: DevTokenRouteOptions): Promise<void> {
  app.get<{ Querystring: DevTokenQuery }>(
    "/dev/token",
    {
      schema: {
        querystring: {
          type: "object",
          properties: {
            role: { type: "string", enum: ["subscriber", "publisher"], default: "subscriber" },
            sub: { type: "string", pattern: USER_ID_PATTERN, default: "demo-user" },
            ttl: { type: "integer", minimum: 1, maximum: 86_400, default: 3600 },
          },
        },
      },
    },
    async (request) => {
      const { role, sub, ttl } = request.query;
      const claims = role === "publisher" ? { sub: "demo-publisher", publish: ["*"] } : { sub, topics: ["*"] };
      return { token: await signDevToken(options.secret, claims, ttl) };
    },
  );
}
