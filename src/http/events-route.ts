import type { FastifyInstance } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { allowedByAny } from "../auth/topic-patterns.ts";
import type { TokenVerifier } from "../auth/token-verifier.ts";
import { TOPIC_NAME_PATTERN, TOPIC_NAME_RULE, topicChannel, userChannel } from "../events/channels.ts";
import { parseEventId, type EventPosition } from "../events/event-id.ts";
import type { Hub } from "../hub/hub.ts";
import { Subscriber } from "../hub/subscriber.ts";
import { subscriberToken } from "./credentials.ts";
import { ApiError } from "./errors.ts";
import { openSseResponse } from "./sse-sink.ts";

export interface EventsRouteOptions {
  readonly hub: Hub;
  readonly verifier: TokenVerifier;
  readonly maxTopicsPerStream: number;
}

interface EventsQuery {
  access_token?: string;
  topic?: string[];
  lastEventId?: string;
}

/** GET /events: one SSE stream with the user's private events and the topics it asks for. */
export async function eventsRoute(app: FastifyInstance, options: EventsRouteOptions): Promise<void> {
  const { hub, verifier, maxTopicsPerStream } = options;
  app.get<{ Querystring: EventsQuery }>(
    "/events",
    {
      schema: {
        querystring: {
          type: "object",
          properties: {
            access_token: { type: "string" },
            topic: { type: "array", maxItems: maxTopicsPerStream, items: { type: "string", pattern: TOPIC_NAME_PATTERN, description: TOPIC_NAME_RULE } },
            lastEventId: { type: "string" },
          },
        },
      },
    },
    async (request, reply) => {
      const principal = await verifier.verify(subscriberToken(request));
      const topics = [...new Set(request.query.topic ?? [])];
      const refused = topics.find((topic) => !allowedByAny(principal.topicPatterns, topic));
      if (refused !== undefined) {
        throw new AuthError(403, "topic_not_allowed", `the token's \`topics\` claim does not allow the topic "${refused}"`);
      }
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
