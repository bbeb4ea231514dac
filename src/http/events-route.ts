import type { FastifyInstance } from "fastify";
import type { SubscriberAuthenticator } from "../auth/subscriber-authenticator.ts";
import { topicChannel, userChannel } from "../events/channels.ts";
import { parseEventId, type EventPosition } from "../events/event-id.ts";
import type { Hub } from "../hub/hub.ts";
import { Subscriber } from "../hub/subscriber.ts";
import { ApiError } from "./errors.ts";
import { eventStreamResponse, eventsQuerySchema } from "./event-stream-schema.ts";
import { openSseResponse } from "./sse-sink.ts";
import { subscriberRequest } from "./subscriber-request.ts";

export interface EventsRouteOptions {
  readonly hub: Hub;
  /** A valid JWT, else the configured authorizer (webhook or Lambda). */
  readonly authenticator: SubscriberAuthenticator;
  readonly maxTopicsPerStream: number;
}

interface EventsQuery {
  access_token?: string;
  topic?: string[];
  lastEventId?: string;
}

/** GET /events: one SSE stream with the user's private events and the topics it asks for. */
export async function eventsRoute(app: FastifyInstance, options: EventsRouteOptions): Promise<void> {
  const { hub, authenticator, maxTopicsPerStream } = options;
  app.get<{ Querystring: EventsQuery }>(
    "/events",
    {
      schema: {
        summary: "Subscribe: one SSE stream of the user's private events and the topics asked for",
        tags: ["streams"],
        security: [{ bearer: [] }, { accessTokenQuery: [] }, { accessTokenCookie: [] }],
        querystring: eventsQuerySchema(maxTopicsPerStream),
        response: { 200: eventStreamResponse },
      },
    },
    async (request, reply) => {
      const topics = [...new Set(request.query.topic ?? [])];
      const principal = await authenticator.authenticate(subscriberRequest(request, topics));
      const resumeFrom = resumePosition(request.headers["last-event-id"] ?? request.query.lastEventId);
      const refusal = hub.admit(principal.userId);
      if (refusal) {
        const code = refusal.status === 429 ? "too_many_streams" : "unavailable";
        throw new ApiError(code, refusal.reason, { "retry-after": String(refusal.retryAfterSeconds) });
      }
      reply.hijack();
      const sink = openSseResponse(request.raw, reply.raw, reply.getHeaders());
      const channels = [userChannel(principal.userId), ...topics.map(topicChannel)];
      await hub.open(new Subscriber(principal.userId, channels, sink, principal.expiresAt), resumeFrom);
      return reply;
    },
  );
}

function resumePosition(lastEventId: string | string[] | undefined): EventPosition | undefined {
  if (lastEventId === undefined || lastEventId === "") return undefined;
  const position = typeof lastEventId === "string" ? parseEventId(lastEventId) : undefined;
  if (!position) throw new ApiError("invalid_last_event_id", "Last-Event-ID is not an id this gateway issued");
  return position;
}
