import { type ShareMode } from "./share.ts";
import { type Status } from "./stream.ts";
export { serveTabs } from "./share.ts";
export type { ShareMode } from "./share.ts";
export type { Status } from "./stream.ts";
export interface ConnectOptions {
    /** The gateway's /events, absolute or relative to the page. */
    readonly url: string | URL;
    /** Returns a subscriber token (called again for a fresh one); leave out with cookie authentication. */
    readonly token?: () => Promise<string> | string;
    readonly topics?: readonly string[];
    /** How tabs share one stream (default "auto"; "off" opts out). */
    readonly share?: ShareMode;
    /** Where worker.js is, for bundlers that move it (default: beside this module). */
    readonly workerUrl?: string | URL;
    /** Renew the token shortly before its `exp` (default true; without, it is renewed on `gateway.token-expired`). */
    readonly renewEarly?: boolean;
    /** Send cookies to a gateway on another origin (default false, as EventSource). */
    readonly withCredentials?: boolean;
    /** Reopen a stream silent this long: no event and no heartbeat (default 100 s, above HEARTBEAT_INTERVAL_MS; 0: never). */
    readonly idleTimeoutMs?: number;
}
export interface EventInfo {
    readonly id: string;
    readonly type: string;
}
export type EventHandler = (data: any, event: EventInfo) => void;
export type StatusListener = (status: Status, reason?: string) => void;
export interface Connection {
    readonly status: Status;
    /** Calls `handler` for each event of `type` ("*": every event, gateway.* ones included); returns the undo. */
    on(type: string, handler: EventHandler): () => void;
    onStatus(listener: StatusListener): () => void;
    close(): void;
}
/**
 * Connects to the gateway in the background and returns at once. The last event id is kept per
 * stream in sessionStorage, so a reload or a restored tab resumes where it stopped; tabs of the
 * origin share one stream per (url, topics, token subject) unless `share` is "off".
 */
export declare function connect(options: ConnectOptions): Connection;
