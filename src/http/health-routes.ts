import type { FastifyInstance, FastifyRequest } from "fastify";
import { requireStaticBearer } from "./credentials.ts";
import type { Registry } from "prom-client";
import type { ReadinessCheck } from "../health.ts";

export interface HealthRoutesOptions {
  readonly checks: readonly ReadinessCheck[];
  /** True once this instance leaves: it takes no new streams and its load balancer should route elsewhere. */
  readonly draining: () => boolean;
  readonly registry: Registry;
  /** METRICS_TOKEN: when set, /metrics wants it as a bearer token. */
  readonly metricsToken?: string;
}

// Status documents, not errors: their 503 is for load balancers. Extra fields pass through.
const status = { type: "object", additionalProperties: true, properties: { status: { type: "string", enum: ["ok", "draining"] } } } as const;
const readiness = {
  type: "object",
  additionalProperties: true,
  properties: {
    ready: { type: "boolean" },
    failing: {
      type: "array",
      items: { type: "object", additionalProperties: true, properties: { name: { type: "string" }, reason: { type: "string" } } },
    },
  },
} as const;
const healthzSchema = {
  summary: "Liveness for the load balancer: 200 while serving, 503 once draining",
  tags: ["operations"],
  response: { 200: { description: "Serving", ...status }, 503: { description: "Draining", ...status } },
} as const;
const readyzSchema = {
  summary: "Whether this instance can do all of its job, and if not why",
  tags: ["operations"],
  response: { 200: { description: "Ready", ...readiness }, 503: { description: "Not ready: `failing` says why", ...readiness } },
} as const;
const metricsSchema = {
  summary: "Prometheus metrics",
  tags: ["operations"],
  response: { 200: { description: "Prometheus text format", content: { "text/plain": { schema: { type: "string" } } } } },
} as const;

/**
 * /healthz is what a load balancer checks: 200 while the process serves and is not draining. A
 * backend outage never fails it: every instance shares it, and replacing them all would cut every
 * stream for nothing (they stay open and catch up once the backend is back). /readyz says why
 * an instance cannot do all of its job (draining, Redis down, queue failing), for people and
 * dashboards; /metrics is for Prometheus.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  app.get("/healthz", { schema: healthzSchema }, async (_request, reply) => {
    if (options.draining()) return reply.code(503).send({ status: "draining" });
    return reply.send({ status: "ok" });
  });
  app.get("/readyz", { schema: readyzSchema }, async (_request, reply) => {
    const failing = options.checks
      .map((check) => ({ name: check.name, ...check.check() }))
      .filter((result) => !result.ready)
      .map((result) => ({ name: result.name, reason: result.reason ?? "not ready" }));
    return reply.code(failing.length === 0 ? 200 : 503).send({ ready: failing.length === 0, failing });
  });
  const metricsToken = options.metricsToken;
  const onRequest = metricsToken === undefined ? [] : [async (request: FastifyRequest) => requireStaticBearer(request, metricsToken)];
  app.get("/metrics", { schema: metricsSchema, onRequest }, async (_request, reply) => {
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
}
