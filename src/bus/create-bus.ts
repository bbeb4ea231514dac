import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import { MemorySubscriptionRegistry, type SubscriptionRegistry } from "../mercure/subscription-registry.ts";
import type { EventBus } from "./event-bus.ts";
import { MemoryBus } from "./memory-bus.ts";
import { RedisSubscriptionRegistry, type SubscriptionRegistryObserver } from "./redis/redis-subscription-registry.ts";
import { RedisBus } from "./redis-bus.ts";

/** The Redis bus when REDIS_URL is set (several instances as one gateway), else the memory bus. */
export function createBus(config: GatewayConfig, log: FastifyBaseLogger): EventBus {
  const retention = { ...config.history, idempotencyWindowMs: config.idempotencyWindowMs };
  return config.redis ? new RedisBus(config.redis, retention, log) : new MemoryBus(retention);
}

/** The registry of Mercure subscriptions, on Redis like the bus; none unless MERCURE_SUBSCRIPTIONS=1. */
export function createSubscriptionRegistry(config: GatewayConfig, log: FastifyBaseLogger, observer: SubscriptionRegistryObserver): SubscriptionRegistry | undefined {
  if (!config.mercure?.subscriptionEvents) return undefined;
  if (!config.redis) return new MemorySubscriptionRegistry();
  return new RedisSubscriptionRegistry({ config: config.redis, leaseMs: config.mercure.subscriptionLeaseMs, log, observer });
}
