import { TOPIC_NAME_PATTERN, TOPIC_NAME_RULE } from "../events/channels.ts";

/**
 * What GET /events answers, for /openapi.json: the SSE framing (OpenAPI has no schema for a
 * stream of events, so the framing is a described text/event-stream body with an example).
 */
export const eventStreamResponse = {
  description: [
    "A Server-Sent Events stream (`Cache-Control: no-cache, no-transform`, `X-Accel-Buffering: no`). It opens with",
    "`retry: <ms>`; then each event is framed as `id: <id>`, `event: <type>`, `data: <JSON on one line>` and a blank",
    "line. `id` is opaque and orders events gateway-wide: send the last one back as `Last-Event-ID` (or",
    "`lastEventId`) to resume. A comment line `:` is sent on quiet streams. Control events have types starting",
    "with `gateway.`: `gateway.refetch` (history no longer covers the gap: reload your state),",
    "`gateway.token-expired` (the stream ends: reconnect with a fresh token), `gateway.draining` (the instance",
    "shuts down: a `retry:` follows, then the stream ends and EventSource reconnects).",
  ].join(" "),
  content: {
    "text/event-stream": {
      schema: {
        type: "string",
        description: "Frames separated by blank lines, as in the HTML standard's EventSource",
        examples: ['retry: 3000\n\nid: 1795765078267-0\nevent: file.processed\ndata: {"fileId":"42"}\n\n:\n\n'],
      },
    },
  },
} as const;

/** The query of GET /events, described for validation messages and /openapi.json. */
export function eventsQuerySchema(maxTopicsPerStream: number) {
  return {
    type: "object",
    properties: {
      access_token: { type: "string", description: "The subscriber's JWT, for EventSource (which cannot set headers)" },
      topic: {
        type: "array",
        maxItems: maxTopicsPerStream,
        description: "Topics to receive besides the user's private events; each must be allowed by the token's topics claim",
        items: { type: "string", pattern: TOPIC_NAME_PATTERN, description: TOPIC_NAME_RULE },
      },
      lastEventId: { type: "string", description: "Resume after this event id (as the Last-Event-ID header)" },
    },
  } as const;
}
