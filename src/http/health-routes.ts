import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { ReadinessCheck } from "../health.ts";

export interface HealthRoutesOptions {
  readonly checks: readonly ReadinessCheck[];
  /** True once this instance leaves: it takes no new streams and its load balancer should route elsewhere. */
  readonly draining: () => boolean;
  readonly registry: Registry;
}

/**
 * /healthz is what a load balancer checks: 200 while the process serves and is not draining. A
 * backend outage never fails it: every instance shares it, and replacing them all would cut every
 * stream for nothing (they stay open and catch up once the backend is back). /readyz says why
 * an instance cannot do all of its job (draining, Redis down, queue failing), for people and
 * dashboards; /metrics is for Prometheus.
 */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  app.get("/healthz", async (_request, reply) => {
    if (options.draining()) return reply.code(503).send({ status: "draining" });
    return reply.send({ status: "ok" });
  });
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
