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
export declare class PublishError extends Error {
    readonly name = "PublishError";
    readonly status: number;
    /** The error code of the gateway's answer (`invalid_body`, `publish_not_allowed`, ...), if any. */
    readonly code: string | undefined;
    constructor(status: number, code: string | undefined, message: string);
}
/**
 * POST /publish. Network errors, timeouts and 502/503/504 are retried with backoff and full jitter
 * (at least the Retry-After) under the same idempotency key, so the event is published once
 * however many attempts reached the gateway. Other refusals throw a PublishError at once.
 */
export declare function publish<Data>(options: PublishOptions, body: PublishBody<Data>): Promise<Published>;
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
/**
 * An entry for PutEvents in the shape the gateway routes by default: `userIds` and `topics` in
 * the detail, the type as DetailType. The browser's data is the whole detail, so it carries them
 * too. Send it with the SDK the Lambda already has:
 * `new PutEventsCommand({ Entries: [eventBridgeEntry({...})] })`.
 */
export declare function eventBridgeEntry<Data extends Record<string, unknown>>(input: EventBridgeEventInput<Data>): EventBridgeEntry;
