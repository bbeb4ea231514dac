import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import type { Publisher } from "../events/publisher.ts";
import type { IngestSource } from "./ingest-source.ts";
import { RedisInbox } from "./redis-inbox.ts";

/** The ingestion sources the configuration turns on. */
export function createSources(config: GatewayConfig, publisher: Publisher, log: FastifyBaseLogger): IngestSource[] {
  const sources: IngestSource[] = [];
  if (config.redis) sources.push(new RedisInbox({ config: config.redis, publisher, maxEventBytes: config.maxEventBytes, log }));
  return sources;
}
