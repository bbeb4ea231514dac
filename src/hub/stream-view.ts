import type { EventPosition } from "../events/event-id.ts";
import { formatEventId } from "../events/event-id.ts";
import type { GatewayEvent } from "../events/event.ts";
import { controlFrame, eventFrame, idFrame } from "./frames.ts";

export const REFETCH_EVENT = "gateway.refetch";

/**
 * How one stream sees the events routed to it: which it takes and the bytes each becomes. A
 * protocol served on the same hub (Mercure) brings its own: a filter for subscriptions the
 * channels cannot express (patterns, private updates) and its own framing. The view caches
 * frames itself if it wants them built once per event.
 */
export interface StreamView {
  accepts(event: GatewayEvent): boolean;
  frame(event: GatewayEvent): Buffer;
  /** Written when history no longer reaches back to the stream's position; `head` is where it goes on from. */
  gapFrame(head: EventPosition): Buffer;
  /**
   * Tells a stream that started at the head where it starts, before any event: an id with no
   * data is not dispatched, but it is the client's Last-Event-ID, so a cut before the first
   * event resumes from there instead of from nothing.
   */
  positionFrame(position: EventPosition): Buffer;
}

/** The gateway's own framing (GET /events): every routed event, JSON data, gaps told as gateway.refetch. */
export const GATEWAY_VIEW: StreamView = {
  accepts: () => true,
  frame: eventFrame,
  gapFrame: (head) => controlFrame(REFETCH_EVENT, { reason: "history-gap" }, formatEventId(head)),
  positionFrame: (position) => idFrame(formatEventId(position)),
};
