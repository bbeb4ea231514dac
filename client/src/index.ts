import { isAfter } from "./event-ids.ts";
import { share, type ShareMode } from "./share.ts";
import { tokenClaims, withinTokenTimeout, type Status, type StreamEvent, type StreamSink } from "./stream.ts";

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

/** A prefetched token is used for the stream only while it is this fresh. */
const PREFETCH_FRESH_MS = 10_000;
const STORAGE_PREFIX = "sse-gateway-client ";

/** FNV-1a: tells tokens apart without keeping them (the key is stored and names channels and locks). */
function digest(text: string): string {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return (hash >>> 0).toString(36);
}

function subscribe<T>(set: Set<T>, item: T): () => void {
  set.add(item);
  return () => set.delete(item);
}

/**
 * Connects to the gateway in the background and returns at once. The last event id is kept per
 * stream in sessionStorage, so a reload or a restored tab resumes where it stopped; tabs of the
 * origin share one stream per (url, topics, token subject) unless `share` is "off".
 */
export function connect(options: ConnectOptions): Connection {
  const handlers = new Map<string, Set<EventHandler>>();
  const listeners = new Set<StatusListener>();
  const url = new URL(options.url, location.href).href;
  const topics = [...new Set(options.topics)].sort();
  const token = options.token && (async () => String(await options.token!()));
  let lastEventId = "";
  let storageKey = "";
  let stop: (() => void) | undefined;
  let closed = false;

  const sink: StreamSink = {
    event(event: StreamEvent) {
      if (closed || (event.id && !isAfter(event.id, lastEventId))) return;
      if (event.id) {
        lastEventId = event.id;
        try {
          sessionStorage.setItem(storageKey, lastEventId);
        } catch {
          // Storage refused (private mode, quota): the id is still kept for this page's life.
        }
      }
      for (const handler of [...(handlers.get(event.type) ?? []), ...(handlers.get("*") ?? [])]) {
        // A handler that throws is reported like any uncaught error; the stream goes on.
        try {
          handler(event.data, event);
        } catch (error) {
          reportError(error);
        }
      }
    },
    status(status, reason) {
      if (closed && status !== "closed") return;
      connection.status = status;
      for (const listener of [...listeners]) listener(status, reason);
    },
  };

  const connection = {
    status: "connecting" as Status,
    on(type: string, handler: EventHandler) {
      if (!handlers.has(type)) handlers.set(type, new Set());
      return subscribe(handlers.get(type)!, handler);
    },
    onStatus: (listener: StatusListener) => subscribe(listeners, listener),
    close() {
      if (closed) return;
      stop?.();
      sink.status("closed");
      closed = true;
    },
  };

  (async () => {
    // The token's subject is part of the stream's key: two users in one browser never share. An
    // opaque token (the application's own session, read by an authorizer) has none: its digest
    // stands for the user; with no token at all (the call failed) the stream is not shared.
    let prefetched = (token && (await withinTokenTimeout(token).catch(() => ""))) || "";
    const fetchedAt = Date.now();
    const user = tokenClaims(prefetched).sub ?? (prefetched && `#${digest(prefetched)}`);
    const key = `${url} ${topics.join(",")} ${user}`;
    storageKey = STORAGE_PREFIX + key;
    try {
      lastEventId = sessionStorage.getItem(storageKey) ?? "";
    } catch {
      // No storage: start live.
    }
    const fresh = token && (async () => {
      const reuse = Date.now() - fetchedAt < PREFETCH_FRESH_MS && prefetched;
      prefetched = "";
      return reuse || token();
    });
    if (closed) return;
    const { renewEarly, withCredentials, idleTimeoutMs } = options;
    const setup = { url, topics, lastEventId, renewEarly, withCredentials, idleTimeoutMs, ...(fresh && { token: fresh }) };
    stop = share(token && !user ? "off" : (options.share ?? "auto"), { key, setup, sink, lastEventId: () => lastEventId }, options.workerUrl ?? new URL("./worker.js", import.meta.url));
  })();

  return connection;
}
