/**
 * Publishing from Node back ends and Lambdas: over the gateway's HTTP API, or as EventBridge
 * PutEvents entries that the gateway's SQS source routes.
 */

export interface PublishBody<Data = unknown> {
  readonly type: string;
  readonly data?: Data;
  readonly users?: readonly string[];
  readonly topics?: readonly string[];
  /** The idempotency key; one is made when absent, and every retry sends the same. */
  readonly id?: string;
}

export interface PublishOptions {
  /** The gateway's base URL (or its /publish). */
  readonly url: string | URL;
  /** A publisher token, or a function returning one. */
  readonly token: string | (() => string | Promise<string>);
  /** Per attempt (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Attempts after the first on a network error, a timeout or a 502/503/504 (default 3). */
  readonly retries?: number;
}

export interface Published {
  /** The event's id (the first event's when the key was used before). */
  readonly id: string;
  /** True when an earlier attempt or call with the same key had published it already. */
  readonly duplicate: boolean;
}

/** The gateway refused the event (or kept failing): `status` 0 means no answer came. */
export class PublishError extends Error {
  override readonly name = "PublishError";
  readonly status: number;
  /** The error code of the gateway's answer (`invalid_body`, `publish_not_allowed`, ...), if any. */
  readonly code: string | undefined;

  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RETRIES = 3;
const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 5000;
const TRANSIENT = [502, 503, 504];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One attempt: the gateway's answer, or the error when none came. */
async function attempt(url: URL, token: string, body: string, timeoutMs: number): Promise<Response | Error> {
  try {
    return await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return error as Error;
  }
}

/**
 * POST /publish. Network errors, timeouts and 502/503/504 are retried with backoff and full jitter
 * (at least the Retry-After) under the same idempotency key, so the event is published once
 * however many attempts reached the gateway. Other refusals throw a PublishError at once.
 */
export async function publish<Data>(options: PublishOptions, body: PublishBody<Data>): Promise<Published> {
  const url = new URL(options.url);
  if (!url.pathname.endsWith("/publish")) url.pathname = `${url.pathname.replace(/\/$/, "")}/publish`;
  const json = JSON.stringify({ ...body, id: body.id ?? crypto.randomUUID() });
  const retries = options.retries ?? DEFAULT_RETRIES;
  for (let n = 0; ; n++) {
    const token = typeof options.token === "string" ? options.token : await options.token();
    const answer = await attempt(url, token, json, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (!(answer instanceof Error) && answer.status === 202) return (await answer.json()) as Published;
    const transient = answer instanceof Error || TRANSIENT.includes(answer.status);
    if (!transient || n >= retries) throw await publishError(answer, n + 1);
    const retryAfter = answer instanceof Error ? 0 : Number(answer.headers.get("retry-after")) * 1000 || 0;
    if (!(answer instanceof Error)) await answer.body?.cancel();
    await sleep(Math.max(retryAfter, Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** n)));
  }
}

async function publishError(answer: Response | Error, attempts: number): Promise<PublishError> {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (answer instanceof Error) return new PublishError(0, undefined, `no answer from the gateway${tries}: ${answer.message}`);
  const text = await answer.text().catch(() => "");
  let parsed: { error?: string; message?: string } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not the gateway's JSON (a proxy's page): the status says enough.
  }
  return new PublishError(answer.status, parsed.error, `the gateway answered ${answer.status}${tries}: ${parsed.message ?? text.slice(0, 200)}`);
}

export interface EventBridgeEventInput<Data extends Record<string, unknown>> {
  /** The EventBridge source, matched by the rule that targets the gateway's queue (`app.` by default). */
  readonly source: string;
  /** The SSE event type (the entry's DetailType). */
  readonly type: string;
  /** The SSE data: the detail, to which the recipients are added. */
  readonly data: Data;
  readonly users?: readonly string[];
  readonly topics?: readonly string[];
  readonly eventBusName?: string;
}

/** A PutEvents entry, as @aws-sdk/client-eventbridge's PutEventsRequestEntry takes it. */
export interface EventBridgeEntry {
  readonly Source: string;
  readonly DetailType: string;
  readonly Detail: string;
  readonly EventBusName?: string;
}

/** Where the gateway's default routing (SQS_USER_ID_PATHS, SQS_TOPIC_PATHS) reads recipients in the detail. */
const RECIPIENT_FIELDS = ["userId", "userIds", "topic", "topics"];

/**
 * An entry for PutEvents in the shape the gateway routes by default: `userIds` and `topics` in
 * the detail, the type as DetailType. The browser's data is the whole detail, so it carries them
 * too. Send it with the SDK the Lambda already has:
 * `new PutEventsCommand({ Entries: [eventBridgeEntry({...})] })`.
 */
export function eventBridgeEntry<Data extends Record<string, unknown>>(input: EventBridgeEventInput<Data>): EventBridgeEntry {
  if (typeof input.data !== "object" || input.data === null || Array.isArray(input.data)) {
    throw new TypeError("data must be a JSON object: the gateway reads the recipients from the detail, which is the data");
  }
  const clash = RECIPIENT_FIELDS.find((field) => field in input.data);
  if (clash) throw new TypeError(`data.${clash} would be read as a recipient: pass recipients as users and topics`);
  if (!input.users?.length && !input.topics?.length) throw new TypeError("name at least one recipient in users or topics");
  const detail = { ...input.data, ...(input.users?.length && { userIds: input.users }), ...(input.topics?.length && { topics: input.topics }) };
  return {
    Source: input.source,
    DetailType: input.type,
    Detail: JSON.stringify(detail),
    ...(input.eventBusName && { EventBusName: input.eventBusName }),
  };
}
