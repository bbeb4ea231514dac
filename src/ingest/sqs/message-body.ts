import type { EventDraft } from "../../events/event.ts";
import { parsePublishRequest, toEventDraft, type PublishRequest } from "../../events/publish-request.ts";
import { eventBridgeToPublishRequest, isEventBridgeEvent, type EventBridgeEvent, type EventBridgeRouting } from "./eventbridge-routing.ts";
import { PoisonMessageError } from "./poison-message.ts";

/** The body shapes a queue message may have. */
export type BodyShape = "eventbridge" | "publish";

export interface ReadBody {
  readonly draft: EventDraft;
  readonly shape: BodyShape;
  /** True when the body came wrapped in an SNS notification. */
  readonly viaSns: boolean;
}

/**
 * Turns a message body into an event draft: an EventBridge event, the gateway's own publish
 * body, or an SNS notification wrapping either. Throws PoisonMessageError for anything else.
 */
export function readMessageBody(body: string, routing: EventBridgeRouting, maxEventBytes: number): ReadBody {
  let value = parseObject(body, "the body");
  let viaSns = false;
  if (isSnsNotification(value)) {
    value = parseObject(value.Message as string, "the SNS Message");
    viaSns = true;
  }
  const shape = shapeOf(value);
  const candidate = shape === "eventbridge" ? eventBridgeToPublishRequest(value as unknown as EventBridgeEvent, routing) : value;
  return { draft: toDraft(candidate, maxEventBytes), shape, viaSns };
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new PoisonMessageError("not_json", `${what} is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new PoisonMessageError("unknown_shape", `${what} is JSON but not an object`);
  }
  return value as Record<string, unknown>;
}

function isSnsNotification(value: Record<string, unknown>): boolean {
  return value.Type === "Notification" && typeof value.Message === "string";
}

function shapeOf(value: Record<string, unknown>): BodyShape {
  if (isEventBridgeEvent(value)) return "eventbridge";
  if (typeof value.type === "string") return "publish";
  throw new PoisonMessageError(
    "unknown_shape",
    "the body is neither an EventBridge event (detail-type, source, detail), a publish body (type, users/topics) nor an SNS notification of either",
  );
}

/** The publish body checks, in an order that gives each failure its own metric label. */
function toDraft(candidate: unknown, maxEventBytes: number): EventDraft {
  const request = checked(candidate);
  if ((request.users?.length ?? 0) + (request.topics?.length ?? 0) === 0) {
    throw new PoisonMessageError("no_recipient", "no recipient: the event names no user and no topic");
  }
  const dataBytes = Buffer.byteLength(JSON.stringify(request.data ?? null));
  if (dataBytes > maxEventBytes) {
    throw new PoisonMessageError("too_large", `the data is ${dataBytes} bytes, more than MAX_EVENT_BYTES (${maxEventBytes})`);
  }
  try {
    return toEventDraft(request, maxEventBytes);
  } catch (error) {
    throw new PoisonMessageError("invalid", (error as Error).message);
  }
}

function checked(candidate: unknown): PublishRequest {
  try {
    return parsePublishRequest(candidate);
  } catch (error) {
    throw new PoisonMessageError("invalid", (error as Error).message);
  }
}
