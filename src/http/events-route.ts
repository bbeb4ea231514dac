import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { SubscriberAuthenticator } from "../auth/subscriber-authenticator.ts";
import type { SubscriberPrincipal } from "../auth/subscriber-principal.ts";
import { topicChannel, userChannel } from "../events/channels.ts";
import { parseEventId } from "../events/event-id.ts";
import type { Hub, Refusal } from "../hub/hub.ts";
import type { StreamStart } from "../hub/stream-cursor.ts";
import { fromForeignPage, refuseCrossSiteCookieStream } from "./credentials.ts";
import { ApiError } from "./errors.ts";
import { eventStreamResponse, eventsQuerySchema } from "./event-stream-schema.ts";
import { SSE_HEADERS, connectionGone, openSseResponse } from "./sse-sink.ts";
import { subscriberRequest } from "./subscriber-request.ts";
import { lazyChildLogger } from "../telemetry/lazy-child-logger.ts";

export interface EventsRouteOptions {
  readonly hub: Hub;
  /** A valid JWT, else the configured authorizer (webhook or Lambda). */
  readonly authenticator: SubscriberAuthenticator;
  readonly maxTopicsPerStream: number;
  /** CORS_ORIGINS: the other sites a cookie-authenticated stream may be opened from. */
  readonly allowedOrigins: readonly string[];
}

interface EventsQuery {
  access_token?: string;
  topic?: string[];
  lastEventId?: string;
}

interface AuthorizedStream {
  readonly principal: SubscriberPrincipal;
  readonly channels: readonly string[];
  readonly start: StreamStart;
}

/**
 * GET /events: one SSE stream with the user's private events and the topics it asks for.
 * HEAD /events: the status and headers the GET would get (credentials, topics and admission
 * checked), no body, no stream: how a browser client learns why its EventSource failed.
 */
export async function eventsRoute(app: FastifyInstance, options: EventsRouteOptions): Promise<void> {
  const { hub, authenticator, maxTopicsPerStream } = options;
  const querystring = eventsQuerySchema(maxTopicsPerStream);
  const security: Record<string, string[]>[] = [{ bearer: [] }, { accessTokenQuery: [] }, { accessTokenCookie: [] }];
  const authorize = async (request: FastifyRequest<{ Querystring: EventsQuery }>): Promise<AuthorizedStream> => {
    const fromForeign = fromForeignPage(request, options.allowedOrigins);
    refuseCrossSiteCookieStream(request, fromForeign);
    const topics = [...new Set(request.query.topic ?? [])];
    const principal = await authenticator.authenticate(subscriberRequest(request, topics, fromForeign));
    const channels = [userChannel(principal.userId), ...topics.map(topicChannel)];
    return { principal, channels, start: streamStart(request.headers["last-event-id"] ?? request.query.lastEventId) };
  };

  const getSchema = {
    summary: "Subscribe: one SSE stream of the user's private events and the topics asked for",
    tags: ["streams"],
    security,
    querystring,
    response: { 200: eventStreamResponse },
  };
  app.get<{ Querystring: EventsQuery }>("/events", { schema: getSchema, exposeHeadRoute: false, childLoggerFactory: lazyChildLogger }, async (request, reply) => {
    const { principal, channels, start } = await authorize(request);
    // The client may have left while it was authenticated: such a connection gets no stream.
    if (connectionGone(request.raw, reply.raw)) return reply.hijack();
    refuseIf(hub.admit(principal.userId));
    reply.hijack();
    const sink = openSseResponse(request.raw, reply.raw, reply.getHeaders());
    releaseRouteListeners(reply.raw);
    hub.open({ userId: principal.userId, channels, sink, start, ...(principal.expiresAt === undefined ? {} : { expiresAt: principal.expiresAt }) });
    return reply;
  });

  const headSchema = {
    summary: "Check a subscription: the status and headers GET /events would answer, without a body or a stream",
    tags: ["streams"],
    security,
    querystring,
  };
  // @fastify/swagger leaves HEAD routes out unless told: this one is an operation of its own.
  app.head<{ Querystring: EventsQuery }>("/events", { schema: headSchema, config: { swagger: { exposeHeadRoute: true } } }, async (request, reply) => {
    const { principal } = await authorize(request);
    refuseIf(hub.wouldAdmit(principal.userId));
    return reply.code(200).headers(SSE_HEADERS).send();
  });
}

/** The listener fastify puts on every response, for its `finish` and `error` (lib/reply.js). */
const FASTIFY_RESPONSE_LISTENER = "onResFinished";

/**
 * fastify's listeners on a hijacked stream's response run when the response finishes or fails,
 * which it never does (the stream's bytes go to the connection itself); left in place, they hold
 * the request, the reply and the request's logger for the stream's whole life, ~0.45 KB a
 * stream. A response is never left without an `error` listener: one shared function takes theirs.
 */
function releaseRouteListeners(response: ServerResponse | Http2ServerResponse): void {
  for (const event of ["finish", "error"] as const) {
    for (const listener of response.listeners(event)) {
      if (listener.name === FASTIFY_RESPONSE_LISTENER) response.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  response.on("error", ignoreResponseError);
}

function ignoreResponseError(): void {
  // A stream's response is never written to (its sink writes to the connection), so it has nothing to fail.
}

/** A hub refusal as the error answer: 429 or 503, with Retry-After. */
export function refuseIf(refusal: Refusal | undefined): void {
  if (!refusal) return;
  const code = refusal.status === 429 ? "too_many_streams" : "unavailable";
  throw new ApiError(code, refusal.reason, { "retry-after": String(refusal.retryAfterSeconds) });
}

/**
 * Where the stream starts. An id the gateway cannot use (not one of ours, or of a format this
 * version no longer issues) is not refused: any answer but 200 ends an EventSource for good, and
 * stored ids outlive deploys. The stream starts at the head with gateway.refetch instead.
 */
function streamStart(lastEventId: string | string[] | undefined): StreamStart {
  if (lastEventId === undefined || lastEventId === "") return { kind: "head" };
  const position = typeof lastEventId === "string" ? parseEventId(lastEventId) : undefined;
  return position ? { kind: "after", position } : { kind: "unusable-id" };
}
