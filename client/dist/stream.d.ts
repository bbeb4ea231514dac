/** An event as the gateway sent it: its id ("" for control events without one), type and parsed data. */
export interface StreamEvent {
    readonly id: string;
    readonly type: string;
    readonly data: unknown;
}
export type Status = "connecting" | "open" | "reconnecting" | "closed";
export interface StreamSetup {
    /** The gateway's /events, absolute. */
    readonly url: string;
    readonly topics: readonly string[];
    /** Where to resume from: the id of the last event already delivered ("" for live only). */
    readonly lastEventId: string;
    /** A fresh subscriber token; absent when the gateway authenticates by cookie. */
    readonly token?: () => Promise<string>;
    /** Renew the token shortly before its `exp` (default true). */
    readonly renewEarly?: boolean;
    /** Send cookies to a gateway on another origin (as EventSource's withCredentials). */
    readonly withCredentials?: boolean | undefined;
    /** A stream silent this long (no event, no heartbeat) is taken for dead and reopened (default 100 s; 0: never). */
    readonly idleTimeoutMs?: number | undefined;
}
export interface StreamSink {
    event(event: StreamEvent): void;
    status(status: Status, reason?: string): void;
}
/** The claims of a JWT, read without verifying (the gateway verifies); {} when it is not one. */
export declare function tokenClaims(token: string): {
    exp?: number;
    sub?: string;
};
/** The token call, given up after TOKEN_TIMEOUT_MS; a token no header can carry fails too. */
export declare function withinTokenTimeout(token: () => Promise<string>): Promise<string>;
/**
 * One stream from the gateway, read with fetch (EventSource hides the status of a refused
 * request and cannot see event types it was not told about), kept open until the returned
 * function is called: after a drop, a drain or a refusal it reconnects from the last id with
 * exponential backoff and full jitter, a fresh token after 401 or `gateway.token-expired`, and
 * at least the Retry-After of a 429 or 503. The token is renewed before it expires.
 */
export declare function openStream(setup: StreamSetup, sink: StreamSink): () => void;
