import type { FastifyBaseLogger } from "fastify";
import type { GatewayConfig } from "../config/config.ts";
import type { Publisher } from "../events/publisher.ts";
import type { IngestSource } from "./ingest-source.ts";
import { RedisInbox, type RedisInboxObserver } from "./redis-inbox.ts";
import { SqsSource, type SqsObserver } from "./sqs-source.ts";

/** Where each source reports what it does (the metrics module). */
export interface IngestObservers {
  readonly sqs: SqsObserver;
  readonly redisInbox: RedisInboxObserver;
}

/** The ingestion sources the configuration turns on. */
export function createSources(config: GatewayConfig, publisher: Publisher, log: FastifyBaseLogger, observers: IngestObservers): IngestSource[] {
  const sources: IngestSource[] = [];
  if (config.redis) sources.push(new RedisInbox({ config: config.redis, publisher, maxEventBytes: config.maxEventBytes, log, observer: observers.redisInbox }));
  if (config.sqs) {
    sources.push(new SqsSource({ config: config.sqs, maxEventBytes: config.maxEventBytes, publisher, log, observer: observers.sqs }));
  }
  return sources;
}
