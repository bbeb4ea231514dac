import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import type { EventBus } from "./event-bus.ts";
import { MemoryBus } from "./memory-bus.ts";

/** The memory bus for one process. */
export function createBus(config: GatewayConfig, _log: FastifyBaseLogger): EventBus {
  return new MemoryBus({ ...config.history, idempotencyWindowMs: config.idempotencyWindowMs });
}
