import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import type { Publisher } from "../events/publisher.ts";
import type { IngestSource } from "./ingest-source.ts";

/** The ingestion sources the configuration turns on. */
export function createSources(_config: GatewayConfig, _publisher: Publisher, _log: FastifyBaseLogger): IngestSource[] {
  return [];
}
