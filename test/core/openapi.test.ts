import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { RouteOptions } from "fastify";
import { createGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { ERROR_CODES } from "../../src/http/errors.ts";
import { TEST_SECRET } from "../support/gateway.ts";

interface Operation {
  summary?: string;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
type Document = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, any> } };

/** Starts a gateway, recording every route fastify registers, and fetches its /openapi.json. */
async function describeGateway(env: Record<string, string>): Promise<{ document: Document; routes: string[] }> {
  const routes: string[] = [];
  const getSchemas = new Map<string, unknown>();
  const onRoute = (route: RouteOptions) => {
    // fastify adds a HEAD route for every GET by itself, with the GET's own schema (the document
    // lists the GET); a HEAD route of its own (HEAD /events) is an operation to list. @fastify/cors
    // answers preflights on `OPTIONS *`, which is no operation of the API.
    for (const method of [route.method].flat()) {
      if (method === "GET") getSchemas.set(route.url, route.schema);
      if (method === "HEAD" && getSchemas.get(route.url) === route.schema) continue;
      // A wildcard route (the rest of the path, as `*`) is documented as the path parameter `{*}`.
      if (!(method === "OPTIONS" && route.url === "*")) routes.push(`${method} ${route.url.replace(/\/\*$/, "/{*}")}`);
    }
  };
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "100", ...env }, () => randomBytes(32));
  const gateway = await createGateway(config, { logger: false, onRoute });
  try {
    const url = await gateway.listen();
    const response = await fetch(new URL("/openapi.json", url));
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    return { document: (await response.json()) as Document, routes };
  } finally {
    await gateway.shutdown();
  }
}

const operationsOf = (document: Document) =>
  Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));

// Each configuration registers a different set of routes (development tokens, CORS preflight, ...).
const configurations: Record<string, Record<string, string>> = {
  "development mode": {},
  "JWT_SECRET, CORS": { JWT_SECRET: TEST_SECRET, CORS_ORIGINS: "https://app.example" },
  "production (no demo page), METRICS_TOKEN": { NODE_ENV: "production", JWT_SECRET: TEST_SECRET, METRICS_TOKEN: "m".repeat(16) },
  "Mercure hub": { JWT_SECRET: TEST_SECRET, MERCURE_PUBLISHER_JWT_KEY: TEST_SECRET, MERCURE_CORS_ORIGINS: "https://mercure.example", MERCURE_SUBSCRIPTIONS: "1" },
};

describe("/openapi.json", () => {
  for (const [name, env] of Object.entries(configurations)) {
    describe(name, () => {
      it("is a valid OpenAPI document that lists every route the app registered", async () => {
        const { document, routes } = await describeGateway(env);
        const result = await new Validator().validate(document as unknown as Parameters<Validator["validate"]>[0]);
        assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
        // The validator does refuse a document that is not OpenAPI.
        assert.equal((await new Validator().validate({ openapi: "3.1.0", paths: { "/x": { get: { responses: 1 } } } })).valid, false);
        assert.deepEqual(operationsOf(document).sort(), [...new Set(routes)].sort());
      });

      it("gives every operation a summary and the one error shape for 4XX and 5XX", async () => {
        const { document } = await describeGateway(env);
        for (const [path, methods] of Object.entries(document.paths)) {
          for (const [method, operation] of Object.entries(methods)) {
            assert.ok(operation.summary, `${method} ${path} has no summary`);
            for (const status of ["4XX", "5XX"]) {
              const schema = operation.responses[status]?.content?.["application/json"]?.schema;
              assert.equal(schema?.$ref, "#/components/schemas/Error", `${method} ${path} ${status}`);
            }
          }
        }
        const error = document.components.schemas.Error;
        assert.deepEqual(error.required, ["error", "message"]);
        assert.equal(error.additionalProperties, false);
        assert.deepEqual(error.properties.error.enum, Object.keys(ERROR_CODES));
      });
    });
  }

  it("describes the SSE framing of GET /events and the publish body", async () => {
    const { document } = await describeGateway({});
    const stream = document.paths["/events"]!.get!.responses["200"] as { description: string; content: Record<string, unknown> };
    assert.ok(stream.content["text/event-stream"]);
    for (const word of ["retry:", "id:", "event:", "data:", "Last-Event-ID", "gateway.refetch", "gateway.token-expired", "gateway.draining"]) {
      assert.ok(stream.description.includes(word), `the stream's description says nothing of ${word}`);
    }
    const publish = document.paths["/publish"]!.post! as Operation & { requestBody: { content: Record<string, { schema: any }> } };
    const body = publish.requestBody.content["application/json"]!.schema;
    assert.deepEqual(Object.keys(body.properties).sort(), ["data", "id", "topics", "type", "users"]);
    assert.equal(body.additionalProperties, false);
    assert.ok(publish.responses["202"]);
  });
});
