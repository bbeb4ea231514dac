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

const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 30_000;
const RENEW_MARGIN_MS = 30_000;
/** setTimeout fires at once beyond 2^31 - 1 ms; tokens that long-lived are not renewed early. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;
/** Above the longest heartbeat interval an ALB allows (87 s), below the gateway's maximum (300 s). */
const IDLE_TIMEOUT_MS = 100_000;
/** A token call that hangs is given up, so the stream tries again rather than wait for ever. */
const TOKEN_TIMEOUT_MS = 30_000;
/** Twice the largest event the gateway sends (MAX_EVENT_BYTES is at most 16 MiB). */
const LONGEST_EVENT_CHARS = 2 ** 25;
/** The longest wait between connections: a Retry-After past a timer's range would otherwise fire at once, in a loop. */
const LONGEST_WAIT_MS = 300_000;
/** Refusals a retry cannot fix: a malformed request, a topic the token may not read, no such route. */
const PERMANENT = [400, 403, 404];

/** The claims of a JWT, read without verifying (the gateway verifies); {} when it is not one. */
export function tokenClaims(token: string): { exp?: number; sub?: string } {
  try {
    return JSON.parse(atob(token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))) ?? {};
  } catch {
    return {};
  }
}

/** When to renew a token: a margin before `exp` (a fifth of what is left for short tokens); 0 for never. */
function renewalDelay(token: string): number {
  const left = (tokenClaims(token).exp ?? 0) * 1000 - Date.now();
  const delay = left - Math.min(RENEW_MARGIN_MS, left / 5);
  return delay > 1000 && delay < LONGEST_TIMER_MS ? delay : 0;
}

/** The token call, given up after TOKEN_TIMEOUT_MS; a token no header can carry fails too. */
export function withinTokenTimeout(token: () => Promise<string>): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(reject, TOKEN_TIMEOUT_MS, new Error("the token call timed out"))));
  return Promise.race([token().then(headerSafe), timeout]).finally(() => clearTimeout(timer));
}

/** A token no header can carry (a line break, a non-ASCII letter) fails like a token call, so the next try calls again. */
function headerSafe(token: string): string {
  if (/^[!-~]*$/.test(token)) return token;
  throw new Error("the token is not printable ASCII");
}

/** Retry-After as seconds or an HTTP date, in ms. */
function retryAfterMs(header: string | null): number {
  const seconds = Number(header);
  return header && seconds >= 0 ? seconds * 1000 : Math.max(0, Date.parse(header ?? "") - Date.now()) || 0;
}

/**
 * One stream from the gateway, read with fetch (EventSource hides the status of a refused
 * request and cannot see event types it was not told about), kept open until the returned
 * function is called: after a drop, a drain or a refusal it reconnects from the last id with
 * exponential backoff and full jitter, a fresh token after 401 or `gateway.token-expired`, and
 * at least the Retry-After of a 429 or 503. The token is renewed before it expires.
 */
export function openStream(setup: StreamSetup, sink: StreamSink): () => void {
  let lastEventId = setup.lastEventId;
  let token: string | undefined;
  let attempt = 0;
  let closed = false;
  let request: AbortController | undefined;
  let renewal: ReturnType<typeof setTimeout> | undefined;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const idleTimeoutMs = setup.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  /** The wait before the next connection when the gateway said what it should be. */
  let announcedWaitMs: number | undefined;
  let wake = () => {};
  /** Why the gateway refused for good: its status and message, for the "closed" status. */
  let refusal = "";

  const backoff = () => Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt++);

  const scheduleRenewal = (current: AbortController) => {
    const delay = setup.renewEarly === false || !token ? 0 : renewalDelay(token);
    if (delay) {
      renewal = setTimeout(async () => {
        const fresh = await withinTokenTimeout(setup.token!).catch(() => undefined);
        // A failed renewal falls back on gateway.token-expired.
        if (fresh && current === request) {
          token = fresh;
          announcedWaitMs = 0;
          current.abort();
        }
      }, delay);
    }
  };

  const dispatch = (type: string, data: string, id: string | undefined) => {
    let parsed: unknown = data;
    try {
      parsed = JSON.parse(data);
    } catch {
      // Not JSON: the handler gets the text.
    }
    if (type === "gateway.draining") announcedWaitMs = (parsed as { retryMs?: number })?.retryMs;
    if (type === "gateway.token-expired") {
      token = undefined;
      announcedWaitMs = 0;
    }
    if (!closed) sink.event({ id: id ?? "", type, data: parsed });
  };

  /** Reads the event stream until it ends (SSE framing: fields, events ended by a blank line). */
  const read = async (body: ReadableStream<Uint8Array>, current: AbortController) => {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let rest = "";
    let type = "";
    let data: string | undefined;
    let id: string | undefined;
    for (;;) {
      clearTimeout(idle);
      if (idleTimeoutMs) idle = setTimeout(() => current.abort(), idleTimeoutMs);
      const { value, done } = await reader.read();
      if (done) return;
      const chunk = decoder.decode(value, { stream: true });
      rest += chunk;
      // A body that never ends its line or its event is not the gateway's: dropped, not held.
      if (rest.length + (data?.length ?? 0) > LONGEST_EVENT_CHARS) return;
      // Split only when a line ended, so a long line costs its length once, not once per chunk.
      if (!chunk.includes("\n")) continue;
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const raw of lines) {
        const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
        if (!line) {
          // As in EventSource, an id sets the resume position even in a block without data.
          if (id !== undefined) lastEventId = id;
          if (data !== undefined) dispatch(type || "message", data, id);
          type = "";
          data = id = undefined;
        } else if (field === "data") data = data === undefined ? text : `${data}\n${text}`;
        else if (field === "event") type = text;
        else if (field === "id") id = text;
      }
    }
  };

  /** One connection; resolves with the wait before the next one, or -1 when retrying cannot help. */
  const connectOnce = async (): Promise<number> => {
    announcedWaitMs = undefined;
    const current = (request = new AbortController());
    try {
      if (setup.token) token ??= await withinTokenTimeout(setup.token);
      const url = new URL(setup.url);
      for (const topic of setup.topics) url.searchParams.append("topic", topic);
      if (lastEventId) url.searchParams.set("lastEventId", lastEventId);
      // The token goes in a header, which fetch can send and EventSource cannot: URLs end up in access logs.
      const headers: Record<string, string> = { accept: "text/event-stream", ...(token && { authorization: `Bearer ${token}` }) };
      const credentials = setup.withCredentials ? "include" : "same-origin";
      const response = await fetch(url, { signal: current.signal, cache: "no-store", credentials, headers });
      const { status } = response;
      if (status === 200 && response.headers.get("content-type")?.startsWith("text/event-stream")) {
        attempt = 0;
        sink.status("open");
        scheduleRenewal(current);
        await read(response.body!, current);
      } else {
        if (PERMANENT.includes(status)) {
          const { message } = await response.json().catch(() => ({}));
          refusal = `the gateway answered ${status}${message ? `: ${message}` : ""}`;
          return -1;
        }
        await response.body?.cancel();
        if (status === 401) token = undefined;
        return Math.max(backoff(), retryAfterMs(response.headers.get("retry-after")));
      }
    } catch {
      // A dropped connection, a failed token call, or our own abort: the same way back.
    } finally {
      clearTimeout(renewal);
      clearTimeout(idle);
      current.abort();
    }
    return announcedWaitMs ?? backoff();
  };

  (async () => {
    sink.status("connecting");
    while (!closed) {
      const waitMs = await connectOnce();
      if (closed) return;
      if (waitMs < 0) {
        closed = true;
        sink.status("closed", refusal);
        return;
      }
      sink.status("reconnecting");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(waitMs, LONGEST_WAIT_MS));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();

  return () => {
    closed = true;
    request?.abort();
    wake();
  };
}
