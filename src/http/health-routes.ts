import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { ReadinessCheck } from "../health.ts";


export interface HealthRoutesOptions {
  readonly checks: readonly ReadinessCheck[];
  readonly registry: Registry;
}

/** /healthz (the process answers), /readyz (it should get new streams), /metrics (Prometheus). */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const failing = options.checks
      .map((check) => ({ name: check.name, ...check.check() }))
      .filter((result) => !result.ready)
      .map((result) => ({ name: result.name, reason: result.reason ?? "not ready" }));
    return reply.code(failing.length === 0 ? 200 : 503).send({ ready: failing.length === 0, failing });
  });
  app.get("/metrics", async (_request, reply) => {
    return reply.type(options.registry.contentType).send(await options.registry.metrics());
  });
}
