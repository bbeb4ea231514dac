import { readFileSync } from "node:fs";
import fastifySwagger from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { errorResponseSchema } from "./errors.ts";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** A route schema's `response` entry for an error status: the one error shape. */
const errorResponse = { description: "An error: see the README's error table", $ref: "Error#" } as const;

/**
 * GET /openapi.json: an OpenAPI 3 document built by @fastify/swagger from the routes' own
 * schemas, so it follows the routes. Must be installed before any route is registered: the
 * plugin collects routes as they are added. Every operation also answers the one error shape.
 */
export async function installOpenApi(app: FastifyInstance): Promise<void> {
  app.addSchema(errorResponseSchema);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "sse-gateway",
        version,
        description: "Pushes backend events to browsers over Server-Sent Events. Every error answers `{ error, message }`.",
        license: { name: "MIT", identifier: "MIT" },
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
          accessTokenQuery: { type: "apiKey", in: "query", name: "access_token" },
          accessTokenCookie: { type: "apiKey", in: "cookie", name: "access_token" },
          mercureCookie: { type: "apiKey", in: "cookie", name: "mercureAuthorization" },
          mercureQuery: { type: "apiKey", in: "query", name: "authorization" },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json.$id === "string" ? json.$id : `def-${index}`) },
    transform: ({ schema, url }) => ({
      url,
      schema: { ...schema, response: { "4xx": errorResponse, "5xx": errorResponse, ...(schema?.response as object | undefined) } },
    }),
  });
  app.get("/openapi.json", { schema: { summary: "This document", tags: ["operations"] } }, async () => app.swagger());
}
