import http from "node:http";
import { createParser, type EventSourceMessage } from "eventsource-parser";

/** One event as a client saw it. */
export interface ReceivedEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

export interface SseConnection {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Non-SSE answers (errors): the whole body. */
  readonly body: Promise<string>;
  readonly events: ReceivedEvent[];
  /** Raw text as received, for framing assertions. */
  readonly raw: () => string;
  /** Resolves once `count` events matching the filter arrived; rejects after timeoutMs. */
  waitFor(count: number, filter?: (event: ReceivedEvent) => boolean, timeoutMs?: number): Promise<ReceivedEvent[]>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

export interface ConnectOptions {
  readonly token?: string;
  /** Send the token as ?access_token= (as a browser EventSource must) instead of a header. */
  readonly tokenInQuery?: boolean;
  readonly topics?: readonly string[];
  readonly lastEventId?: string;
  readonly headers?: Record<string, string>;
  /** Keep the socket from reading (a slow client). */
  readonly paused?: boolean;
  /** The stream's path and query (default /events). */
  readonly path?: string;
}

/** A real HTTP/1.1 SSE client over node:http, with the WHATWG parser from eventsource-parser. */
export function connectSse(baseUrl: string, options: ConnectOptions = {}): Promise<SseConnection> {
  const url = new URL(options.path ?? "/events", baseUrl);
  for (const topic of options.topics ?? []) url.searchParams.append("topic", topic);
  const headers: Record<string, string> = { accept: "text/event-stream", ...options.headers };
  if (options.token && options.tokenInQuery) url.searchParams.set("access_token", options.token);
  else if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.lastEventId) headers["last-event-id"] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (response) => {
      const events: ReceivedEvent[] = [];
      let raw = "";
      const waiters = new Set<() => void>();
      const parser = createParser({
        onEvent(message: EventSourceMessage) {
          events.push({ id: message.id, event: message.event, data: message.data });
          for (const waiter of waiters) waiter();
        },
      });
      const ended = new Promise<void>((resolveEnd) => {
        response.once("end", resolveEnd);
        response.once("close", resolveEnd);
        response.once("error", () => resolveEnd());
        // A paused response never emits "end"; its socket still closes.
        response.socket.once("close", resolveEnd);
      });
      const isStream = response.headers["content-type"]?.startsWith("text/event-stream") ?? false;
      const body = isStream
        ? Promise.resolve("")
        : new Promise<string>((resolveBody) => {
            let text = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (text += chunk));
            response.once("end", () => resolveBody(text));
          });
      if (isStream) {
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          raw += chunk;
          parser.feed(chunk);
        });
        if (options.paused) response.pause();
      }
      resolve({
        status: response.statusCode ?? 0,
        headers: response.headers,
        body,
        events,
        raw: () => raw,
        ended,
        close: () => request.destroy(),
        waitFor(count, filter = () => true, timeoutMs = 5000) {
          return new Promise((resolveWait, rejectWait) => {
            const check = () => {
              const matching = events.filter(filter);
              if (matching.length < count) return false;
              cleanup();
              resolveWait(matching);
              return true;
            };
            const timer = setTimeout(() => {
              cleanup();
              rejectWait(new Error(`timed out waiting for ${count} events; got ${events.filter(filter).length}: ${JSON.stringify(events)}`));
            }, timeoutMs);
            const waiter = () => void check();
            const cleanup = () => {
              clearTimeout(timer);
              waiters.delete(waiter);
            };
            waiters.add(waiter);
            check();
          });
        },
      });
    });
    request.once("error", reject);
  });
}
