import { createHash } from "node:crypto";
import { Ajv } from "ajv";
import { describeViolation } from "../validation-message.ts";
import { TOPIC_NAME_PATTERN, TOPIC_NAME_RULE, USER_ID_PATTERN, USER_ID_RULE, topicChannel, userChannel } from "./channels.ts";
import type { EventDraft } from "./event.ts";

/** The body of POST /publish, and of a queue message in the gateway's own shape. */
export interface PublishRequest {
  readonly users?: readonly string[];
  readonly topics?: readonly string[];
  readonly type: string;
  readonly data?: unknown;
  readonly id?: string;
}

export const MAX_RECIPIENTS = 1000;

export const publishRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type"],
  properties: {
    users: {
      type: "array",
      maxItems: MAX_RECIPIENTS,
      description: "User ids (token `sub`) whose private streams get the event",
      items: { type: "string", pattern: USER_ID_PATTERN, description: USER_ID_RULE },
    },
    topics: {
      type: "array",
      maxItems: MAX_RECIPIENTS,
      description: "Topics whose subscribers get the event",
      items: { type: "string", pattern: TOPIC_NAME_PATTERN, description: TOPIC_NAME_RULE },
    },
    // An SSE field value cannot hold a line break, and "gateway." types are the gateway's own.
    type: {
      type: "string",
      minLength: 1,
      maxLength: 100,
      pattern: "^[^\\u0000-\\u001f\\u007f:]*$",
      description: "1 to 100 characters without control characters or `:` (the SSE `event:` name)",
      // In any case and after any white space: a client that trims or folds case must not be fooled.
      not: { pattern: "^\\s*[Gg][Aa][Tt][Ee][Ww][Aa][Yy]\\.", description: "the prefix `gateway.` is reserved for the gateway's own events" },
    },
    data: { description: "Any JSON; the SSE `data:` line" },
    id: {
      type: "string",
      pattern: "^[^\\u0000-\\u001f\\u007f]{1,200}$",
      description: "1 to 200 characters without control characters (an idempotency key)",
    },
  },
} as const;

/** A publish body that is not acceptable, with the field at fault in the message. */
export class PublishRequestError extends Error {
  override readonly name = "PublishRequestError";
}

// Strict: no type coercion and no silent removal of unknown fields, unlike fastify's defaults.
// `verbose` hands the failing schema to the error, whose description words the message.
const ajv = new Ajv({ allErrors: false, verbose: true });
/** The validator of publish bodies, shared by the HTTP route and the queue sources. */
export const validatePublishRequest = ajv.compile<PublishRequest>(publishRequestSchema);

/** `data` nested deeper than this is refused: serialising it would exhaust the stack. */
export const MAX_DATA_DEPTH = 64;

/** Checks a publish body, from HTTP or a queue: the schema, then what a schema cannot say. */
export function parsePublishRequest(value: unknown): PublishRequest {
  if (!validatePublishRequest(value)) {
    const error = validatePublishRequest.errors?.[0];
    throw new PublishRequestError(error ? describeViolation(error, "body") : "body is invalid");
  }
  return checkBeyondSchema(value, "body");
}

/** What a schema cannot say about a publish body; `where` names it in messages ("body", "body.events[3]"). */
export function checkBeyondSchema(value: PublishRequest, where: string): PublishRequest {
  const malformed = [value.type, value.id, ...(value.users ?? [])].find((text) => text !== undefined && !text.isWellFormed());
  if (malformed !== undefined) {
    // A lone surrogate becomes U+FFFD on the way to storage: two ids would become one.
    throw new PublishRequestError(`${where} holds ${JSON.stringify(malformed)}, which is not well-formed Unicode (a lone surrogate)`);
  }
  if (nestsDeeperThan(value.data, MAX_DATA_DEPTH)) {
    throw new PublishRequestError(`${where}.data nests deeper than ${MAX_DATA_DEPTH} levels of objects and arrays (MAX_DATA_DEPTH)`);
  }
  return value;
}

/** Walks without recursion, so that no depth of input can exhaust the stack here either. */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next.value === null || typeof next.value !== "object") continue;
    if (next.depth > limit) return true;
    for (const child of Object.values(next.value)) {
      if (child !== null && typeof child === "object") pending.push({ value: child, depth: next.depth + 1 });
    }
  }
  return false;
}

/** Turns a checked body into a bus draft; rejects bodies with no recipient or too large a payload. */
export function toEventDraft(request: PublishRequest, maxEventBytes: number, where = "body"): EventDraft {
  const users = [...new Set(request.users ?? [])];
  const topics = [...new Set(request.topics ?? [])];
  if (users.length + topics.length === 0) {
    throw new PublishRequestError(`${where} must name at least one recipient in \`users\` or \`topics\``);
  }
  const dataJson = JSON.stringify(request.data ?? null);
  if (Buffer.byteLength(dataJson) > maxEventBytes) {
    throw new PublishRequestError(`${where}.data is larger than MAX_EVENT_BYTES (${maxEventBytes} bytes)`);
  }
  const channels = [...users.map(userChannel), ...topics.map(topicChannel)];
  if (request.id === undefined) return { type: request.type, dataJson, channels };
  return { type: request.type, dataJson, channels, idempotencyKey: request.id, fingerprint: fingerprint(request.type, dataJson, channels) };
}

/** A digest of what an event says; recipients in any order are the same event. */
function fingerprint(type: string, dataJson: string, channels: readonly string[]): string {
  return createHash("sha256")
    .update(JSON.stringify([type, dataJson, [...channels].sort()]))
    .digest("base64url");
}

/** The body of POST /publish/batch: many events in one request, each to its own recipients. */
export interface PublishBatchRequest {
  readonly events: readonly PublishRequest[];
}

/** Events in one batch at most: one request stays short enough to answer within a publisher's timeout. */
export const MAX_BATCH_EVENTS = 100;
/** The largest batch body: room for MAX_BATCH_EVENTS small events, or for one of MAX_EVENT_BYTES when that is larger. */
export const MAX_BATCH_BYTES = 1024 * 1024;

export const publishBatchRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["events"],
  properties: {
    events: {
      type: "array",
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      description: `1 to ${MAX_BATCH_EVENTS} events, each a POST /publish body; published in this order`,
      items: publishRequestSchema,
    },
  },
} as const;

const validatePublishBatchRequest = ajv.compile<PublishBatchRequest>(publishBatchRequestSchema);

/** Checks a batch body: the schema once for the whole batch, then each event as /publish would. */
export function parsePublishBatchRequest(value: unknown): PublishBatchRequest {
  if (!validatePublishBatchRequest(value)) {
    const error = validatePublishBatchRequest.errors?.[0];
    throw new PublishRequestError(error ? describeViolation(error, "body") : "body is invalid");
  }
  value.events.forEach((event, index) => checkBeyondSchema(event, `body.events[${index}]`));
  return value;
}
