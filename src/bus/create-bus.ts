import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import type { EventBus } from "./event-bus.ts";
import { MemoryBus } from "./memory-bus.ts";
import { RedisBus } from "./redis-bus.ts";

/** The Redis bus when REDIS_URL is set (several instances as one gateway), else the memory bus. */
export function createBus(config: GatewayConfig, log: FastifyBaseLogger): EventBus {
  const retention = { ...config.history, idempotencyWindowMs: config.idempotencyWindowMs };
  return config.redis ? new RedisBus(config.redis, retention, log) : new MemoryBus(retention);
}
