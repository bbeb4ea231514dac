import { connectSse, type ReceivedEvent } from "./sse-client.ts";

/** One connection a following client made, as it saw it. */
export interface Visit {
  readonly openedAt: number;
  readonly status: number;
  endedAt?: number;
  /** The `retry:` hints the stream carried, in order. */
  readonly retries: number[];
  readonly events: ReceivedEvent[];
}

export interface FollowingClient {
  readonly visits: readonly Visit[];
  /** Every event of every visit, in arrival order. */
  events(): ReceivedEvent[];
  stop(): Promise<void>;
}

const RETRY_LINE = /^retry: (\d+)$/gm;

/**
 * A client that behaves as a browser's EventSource with the gateway's client on top: it follows
 * the last `retry:` hint after a stream ends, resumes with Last-Event-ID, and after a refusal
 * (503 or 429) comes back after Retry-After instead of giving up.
 */
export function follow(baseUrl: string, token: string, topics: readonly string[]): FollowingClient {
  const visits: Visit[] = [];
  let stopped = false;
  let close: (() => void) | undefined;
  let lastEventId: string | undefined;
  let retryMs = 3000;
  const loop = (async () => {
    while (!stopped) {
      const openedAt = Date.now();
      const connection = await connectSse(baseUrl, { token, topics, lastEventId }).catch(() => undefined);
      if (!connection) {
        await pause(retryMs);
        continue;
      }
      const visit: Visit = { openedAt, status: connection.status, retries: [], events: connection.events };
      visits.push(visit);
      if (connection.status !== 200) {
        await connection.body;
        visit.endedAt = Date.now();
        await pause(Number(connection.headers["retry-after"] ?? 1) * 1000);
        continue;
      }
      close = connection.close;
      if (stopped) connection.close();
      await connection.ended;
      visit.endedAt = Date.now();
      visit.retries.push(...[...connection.raw().matchAll(RETRY_LINE)].map((match) => Number(match[1])));
      retryMs = visit.retries.at(-1) ?? retryMs;
      lastEventId = connection.events.findLast((event) => event.id !== undefined)?.id ?? lastEventId;
      if (!stopped) await pause(retryMs);
    }
  })();
  return {
    visits,
    events: () => visits.flatMap((visit) => visit.events),
    async stop() {
      stopped = true;
      close?.();
      await loop;
    },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
