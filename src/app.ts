import { randomUUID } from "node:crypto";
import fastifyCors from "@fastify/cors";
import { constants, type Http2SecureServer, type ServerHttp2Stream } from "node:http2";
import type { JWTVerifyGetKey } from "jose";
import fastify, { LogController, type FastifyHttp2SecureOptions, type FastifyInstance, type FastifyRequest, type FastifyServerOptions, type RouteOptions } from "fastify";
import { createAuthorizer } from "./auth/authorizers/create-authorizer.ts";
import { createSubscriberAuthenticator } from "./auth/subscriber-authenticator.ts";
import { RemoteKeySet } from "./auth/remote-key-set.ts";
import { createTokenVerifier } from "./auth/token-verifier.ts";
import { createBus, createSubscriptionRegistry } from "./bus/create-bus.ts";
import type { EventBus } from "./bus/event-bus.ts";
import type { GatewayConfig } from "./config/config.ts";
import type { MercureConfig } from "./config/mercure-config.ts";
import { Publisher } from "./events/publisher.ts";
import type { ReadinessCheck } from "./health.ts";
import { connectionBudget, countOpenFiles, readOpenFileLimit } from "./http/connection-budget.ts";
import { demoRoutes, devTokenRoute } from "./http/demo-routes.ts";
import { clientErrorHandler, frameworkErrorHandler, installErrorHandler } from "./http/errors.ts";
import { eventsRoute } from "./http/events-route.ts";
import { healthRoutes } from "./http/health-routes.ts";
import { installOpenApi } from "./http/openapi.ts";
import { publishBatchRoute } from "./http/publish-batch-route.ts";
import { publishRoute } from "./http/publish-route.ts";
import { Hub } from "./hub/hub.ts";
import { createSources } from "./ingest/create-sources.ts";
import type { IngestSource } from "./ingest/ingest-source.ts";
import { startEmfReporter } from "./telemetry/emf.ts";
import { loggerOptions, requestLinesOff } from "./telemetry/logger.ts";
import { mercureRoutes } from "./mercure/hub-routes.ts";
import { MercureTokens } from "./mercure/tokens.ts";
import { GatewayMetrics } from "./telemetry/metrics.ts";

export interface Gateway {
  readonly app: FastifyInstance;
  readonly hub: Hub;
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly metrics: GatewayMetrics;
  /** Starts the ingestion sources and listens; resolves with the base URL. */
  listen(): Promise<string>;
  /**
   * The drain: not ready, sources stopped, streams closed over the grace period, then closed.
   * With drainBy (ms since the epoch), the streams are closed by then instead: the load
   * balancer's cut of a draining target, while the sources stop.
   */
  shutdown(drainBy?: number): Promise<void>;
}

export interface GatewayOverrides {
  /** pino logger options, or false for silence (tests). */
  readonly logger?: FastifyServerOptions["logger"];
  /** Sees every route as it is registered (the test that /openapi.json lists them all). */
  readonly onRoute?: (route: RouteOptions) => void;
}

const REQUEST_ID = /^[\w.:-]{1,64}$/;
/** Streams one HTTP/2 session holds at once (README, Limits); a browser's tabs need far fewer. */
const H2_MAX_CONCURRENT_STREAMS = 128;

/** Wires configuration, bus, hub, sources and routes into one gateway. */
export async function createGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const budget = connectionBudget(config.maxConnections, readOpenFileLimit(), countOpenFiles());
  const app = createServer(config, overrides.logger ?? loggerOptions(config.logLevel));
  if (budget.warning) app.log.warn(budget.warning);
  if (budget.sockets !== undefined) app.server.maxConnections = budget.sockets;
  const metrics = new GatewayMetrics();
  const bus = createBus(config, app.log);
  const registry = createSubscriptionRegistry(config, app.log, metrics.mercureSubscriptions);
  const hub = new Hub(bus, {
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    maxBufferBytes: config.maxStreamBufferBytes,
    maxConnections: budget.streams,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
    maxOpensPerUserPerMinute: config.maxOpensPerUserPerMinute,
    retryMs: config.retryMs,
    retryJitterMs: config.retryJitterMs,
    onFanOut: (event) => metrics.fannedOut(event),
    onError: (message, error) => app.log.warn({ err: error }, message),
  });
  metrics.observeHub(hub);
  const publisher = new Publisher(bus, (source, result) => metrics.published(source, result));
  const sources = createSources(config, publisher, app.log, metrics);
  // One key set for /events and the Mercure hub: one cache, one fetch schedule, one outage.
  const keySet = config.jwt.kind === "jwks" ? new RemoteKeySet(config.jwt.jwksUrl) : undefined;
  const verifier = createTokenVerifier(config.jwt, config.topicsClaim, { maxLifetimeSeconds: config.maxTokenLifetimeS }, keySet);
  const authorizer = createAuthorizer(config.authorizer, metrics.authorizer, app.log);
  const authenticator = createSubscriberAuthenticator(verifier, authorizer);

  if (overrides.onRoute) app.addHook("onRoute", overrides.onRoute);
  installErrorHandler(app, (code) => metrics.authFailure(code));
  await installOpenApi(app);
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  // Without allowed origins there is nothing to answer: no CORS hook runs on every request. One
  // CORS plugin serves every route: MERCURE_CORS_ORIGINS adds to CORS_ORIGINS.
  const corsOrigins = [...new Set([...config.corsOrigins, ...(config.mercure?.corsOrigins ?? [])])];
  if (corsOrigins.length > 0) await app.register(fastifyCors, { origin: corsOrigins, credentials: true, exposedHeaders: ["last-event-id", "mercure-last-event-id"] });
  await app.register(healthRoutes, {
    checks: readinessChecks(hub, bus, sources),
    draining: () => hub.draining,
    registry: metrics.registry,
    ...(config.metricsToken === undefined ? {} : { metricsToken: config.metricsToken }),
  });
  await app.register(eventsRoute, { hub, authenticator, maxTopicsPerStream: config.maxTopicsPerStream, allowedOrigins: config.corsOrigins });
  await app.register(publishRoute, { publisher, verifier, maxEventBytes: config.maxEventBytes });
  await app.register(publishBatchRoute, {
    publisher,
    verifier,
    maxEventBytes: config.maxEventBytes,
    maxBatchRecipients: config.maxBatchRecipients,
  });
  await app.register(demoRoutes, { page: config.demoPage });
  if (config.mercure) {
    await app.register(mercureRoutes, {
      hub,
      bus,
      publisher,
      tokens: mercureTokens(config.mercure, keySet),
      anonymous: config.mercure.anonymous,
      maxTopicsPerStream: config.maxTopicsPerStream,
      maxEventBytes: config.maxEventBytes,
      historyMaxAgeMs: config.history.maxAgeMs,
      allowedOrigins: config.corsOrigins,
      ...(registry === undefined ? {} : { registry }),
      ...(config.mercure.accessTokens === undefined ? {} : { resourceMetadata: config.mercure.accessTokens }),
      onPublishFailure: (message, error) => app.log.warn({ err: error }, message),
    });
  }
  // Off in production unless DEMO_PAGE=on: the page fetches ?tokenUrl= with the visitor's cookies.
  if (config.demoPage && config.jwt.kind === "ephemeral") await app.register(devTokenRoute, { secret: config.jwt.secret });
  const emfTimer = config.emf ? startEmfReporter(config.emf, () => hub.size) : undefined;

  return {
    app,
    hub,
    bus,
    publisher,
    metrics,
    async listen() {
      for (const source of sources) source.start();
      const address = await app.listen({ port: config.port, host: config.host });
      return address.replace("0.0.0.0", "localhost").replace("[::]", "localhost");
    },
    async shutdown(drainBy) {
      clearInterval(emfTimer);
      // Not ready at once, even while the sources are still settling what they hold.
      hub.refuseNewStreams();
      // Every event a source took (and deleted from its queue) reaches the streams still open.
      const sourcesStopped = Promise.all(sources.map((source) => source.stop()));
      // Before a load balancer's cut the streams cannot wait for a source slow to stop (a hanging
      // queue or Redis): they are drained meanwhile, and resume elsewhere from the history.
      if (drainBy === undefined) await sourcesStopped;
      const graceMs = drainBy === undefined ? config.shutdownGraceMs : Math.max(0, drainBy - Date.now());
      app.log.info({ graceMs, streams: hub.size }, `draining: sources ${drainBy === undefined ? "stopped" : "stopping"}, streams close over the grace period`);
      await hub.drain(graceMs);
      await sourcesStopped;
      hub.close();
      await app.close();
      authorizer?.close();
      await registry?.close();
      await bus.close();
    },
  };
}

function createServer(config: GatewayConfig, logger: FastifyServerOptions["logger"]): FastifyInstance {
  const options = {
    logger,
    logController: new LogController({ disableRequestLogging: requestLinesOff(logger) }),
    requestIdHeader: false as const,
    genReqId: (request: { headers: Record<string, string | string[] | undefined> }) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    forceCloseConnections: true,
    // Errors fastify answers before any route runs get the gateway's one error shape too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // The failing schema travels with a validation error, so its description words the message.
    ajv: { customOptions: { verbose: true } },
  };
  if (!config.tls) return withRequestTimeout(withJsonBodiesOnly(fastify(options)), config.requestTimeoutMs);
  // HTTP/2 over TLS, with HTTP/1.1 for clients that do not offer h2 in ALPN. fastify's types
  // model the http2 server as another instance type; the routes use only what both share.
  const http2Options = {
    ...(options as object),
    http2: true,
    // Without it a TCP connection that never finishes the handshake is held for two minutes.
    // Node's default lets a session hold 2^32 - 1 streams at once, each unfinished request a few KB.
    https: {
      allowHTTP1: true,
      cert: config.tls.cert,
      key: config.tls.key,
      handshakeTimeout: config.requestTimeoutMs,
      settings: { maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS },
    },
  } as FastifyHttp2SecureOptions<Http2SecureServer>;
  const app = withRequestTimeout(withJsonBodiesOnly(fastify(http2Options) as unknown as FastifyInstance), config.requestTimeoutMs);
  return withLateBodiesCut(withIdleSessionsClosed(app, config.requestTimeoutMs), config.requestTimeoutMs);
}

/**
 * Node's request timeout covers HTTP/1.1 only (withRequestTimeout): on HTTP/2 a request whose
 * body is still arriving REQUEST_TIMEOUT_MS after its headers has its stream cut, whatever route
 * (or none) it is for. A request without a body (an SSE GET) ends with its headers: no timer.
 * The client's end of the stream is what counts, not the body's `end` event: a body nobody
 * reads (a GET whose end came in an empty DATA frame, a refused publish) never emits it.
 */
function withLateBodiesCut(app: FastifyInstance, timeoutMs: number): FastifyInstance {
  app.addHook("onRequest", (request, _reply, done) => {
    const raw = request.raw as FastifyRequest["raw"] & { stream?: ServerHttp2Stream };
    const stream = raw.stream;
    if (stream !== undefined && !stream.endAfterHeaders && !raw.readableEnded) {
      const timer = setTimeout(() => {
        if (stream.state.remoteClose !== 1) stream.close(constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      const settle = () => clearTimeout(timer);
      raw.once("end", settle);
      raw.once("close", settle);
    }
    done();
  });
  return app;
}

/**
 * Node bounds no h2 session that opens no stream: idle sessions (no request, or a HEADERS block
 * never ended) would hold the accepted-connection cap for good. A session's first stream comes
 * within REQUEST_TIMEOUT_MS; between streams a session waits as long as an HTTP/1.1 keep-alive
 * connection does; a session with an open stream is never closed for being quiet.
 */
function withIdleSessionsClosed(app: FastifyInstance, requestTimeoutMs: number): FastifyInstance {
  const keepAliveMs = app.initialConfig.keepAliveTimeout ?? requestTimeoutMs;
  (app.server as unknown as Http2SecureServer).on("session", (session) => {
    let streams = 0;
    // Unreferenced: the session holds the process open while it lives, the timer never does.
    let idle = setTimeout(() => session.destroy(), requestTimeoutMs).unref();
    session.on("stream", (stream) => {
      streams++;
      clearTimeout(idle);
      stream.once("close", () => {
        if (--streams === 0 && !session.closed && !session.destroyed) idle = setTimeout(() => session.close(), keepAliveMs).unref();
      });
    });
    session.once("close", () => clearTimeout(idle));
  });
  return app;
}

/**
 * HTTP/1.1 requests (also the TLS server's fallback) arrive whole, headers and body, within
 * REQUEST_TIMEOUT_MS, checked every second at most so that the bound holds. A stream's GET has no
 * body: an open stream is a finished request and is never cut. (HTTP/2 bodies: see the publish route.)
 */
function withRequestTimeout(app: FastifyInstance, timeoutMs: number): FastifyInstance {
  // connectionsCheckingInterval is not in @types/node; both server kinds have the three fields.
  const server = app.server as unknown as { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number };
  server.requestTimeout = timeoutMs;
  server.headersTimeout = timeoutMs;
  // Read when the server starts listening, which comes later.
  server.connectionsCheckingInterval = Math.min(1000, timeoutMs);
  return app;
}

/** Bodies are JSON or refused with 415: fastify's default text/plain parser would hand a string to the schema. */
function withJsonBodiesOnly(app: FastifyInstance): FastifyInstance {
  app.removeContentTypeParser("text/plain");
  return app;
}

function readinessChecks(hub: Hub, bus: EventBus, sources: readonly IngestSource[]): ReadinessCheck[] {
  return [
    { name: "drain", check: () => (hub.draining ? { ready: false, reason: "shutting down" } : { ready: true }) },
    { name: "bus", check: () => bus.health() },
    ...sources.map((source) => ({ name: source.name, check: () => source.health() })),
  ];
}

/** The hub's token verification: each role's HS256 secret, and the shared key set for the roles MERCURE_JWKS_ROLES names. */
function mercureTokens(config: MercureConfig, keySet: RemoteKeySet | undefined): MercureTokens {
  return new MercureTokens({
    secrets: { ...(config.publisherKey ? { publisher: config.publisherKey } : {}), ...(config.subscriberKey ? { subscriber: config.subscriberKey } : {}) },
    ...(config.accessTokens === undefined ? {} : { accessTokens: config.accessTokens }),
    ...(config.keySet === undefined || keySet === undefined ? {} : { keySet: { ...config.keySet, getKey: keySet.getKey as JWTVerifyGetKey } }),
  });
}
