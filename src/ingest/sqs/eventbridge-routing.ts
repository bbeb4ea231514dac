import type { PublishRequest } from "../../events/publish-request.ts";
import { parseJsonPath, selectAll, type JsonPath } from "./json-path.ts";
import { PoisonMessageError } from "./poison-message.ts";

/** Where in an EventBridge event the recipients are: paths from the event's root. */
export interface EventBridgeRouting {
  readonly userIdPaths: readonly JsonPath[];
  readonly topicPaths: readonly JsonPath[];
}

export const DEFAULT_USER_ID_PATHS = ["$.detail.userId", "$.detail.userIds"] as const;
export const DEFAULT_TOPIC_PATHS = ["$.detail.topic", "$.detail.topics"] as const;

export const defaultRouting: EventBridgeRouting = {
  userIdPaths: DEFAULT_USER_ID_PATHS.map(parseJsonPath),
  topicPaths: DEFAULT_TOPIC_PATHS.map(parseJsonPath),
};

/** An event as an EventBridge rule delivers it to an SQS target. */
export interface EventBridgeEvent {
  readonly version?: string;
  readonly id?: string;
  readonly "detail-type": string;
  readonly source: string;
  readonly account?: string;
  readonly time?: string;
  readonly region?: string;
  readonly resources?: readonly string[];
  readonly detail: unknown;
}

export function isEventBridgeEvent(value: Record<string, unknown>): boolean {
  return typeof value["detail-type"] === "string" && typeof value.source === "string" && "detail" in value;
}

/**
 * The SSE type is the detail-type, the data is the detail, and the event id is the idempotency
 * key, so a message SQS delivers twice reaches each stream once.
 */
export function eventBridgeToPublishRequest(event: EventBridgeEvent, routing: EventBridgeRouting): PublishRequest {
  return {
    users: recipients(event, routing.userIdPaths),
    topics: recipients(event, routing.topicPaths),
    type: event["detail-type"],
    data: event.detail,
    ...(typeof event.id === "string" ? { id: event.id } : {}),
  };
}

function recipients(event: EventBridgeEvent, paths: readonly JsonPath[]): string[] {
  const found = new Set<string>();
  for (const path of paths) {
    for (const value of selectAll(event, path)) found.add(recipientName(value, path));
  }
  return [...found];
}

/** Ids are often numbers in back ends; anything else at a routing path is a mistake worth seeing. */
function recipientName(value: unknown, path: JsonPath): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  throw new PoisonMessageError("invalid", `${path.text} holds ${JSON.stringify(value)}, not a string or whole number`);
}
