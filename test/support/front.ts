import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Upstream {
  readonly name: string;
  readonly url: string;
}

/** One GET /events the front passed on: where it went and what the browser resumed from. */
export interface ForwardedStream {
  readonly upstream: string;
  readonly lastEventId: string | undefined;
  readonly at: number;
  /** How it ended, once it did: the instance ended it, the front cut it, or other (the client left, the instance died). */
  endedBy?: "upstream" | "cut" | "other";
  endedAt?: number;
}

export interface Front {
  readonly url: string;
  readonly streams: readonly ForwardedStream[];
  /** Replaces the target group, as a rolling deployment does. */
  setUpstreams(upstreams: readonly Upstream[]): void;
  /** Cuts every open response from this instance, as an ALB does when a deregistration delay ends. */
  cut(upstreamName: string): number;
  close(): Promise<void>;
}

export interface FrontOptions {
  /** Requests the front answers itself (the application's own routes); returns true when it did. */
  readonly local?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean;
  /** The path whose 200 makes an instance take requests: /readyz by default; an ALB target group of ours checks /healthz. */
  readonly healthPath?: string;
  /** Told every health check's outcome: the status, or 0 when the instance did not answer. */
  readonly onHealthCheck?: (upstream: string, status: number) => void;
}

const HEALTH_INTERVAL_MS = 200;
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"]);

/**
 * A small load balancer in front of gateway instances, doing what an ALB does for them: it
 * spreads requests round robin over the instances whose /readyz answers 200 (checked every
 * 200 ms), streams responses through unbuffered, and cuts the client's connection when the
 * instance's connection dies. Like nginx's proxy_next_upstream, a request that cannot reach an
 * instance at all is tried on the next one.
 */
export async function startFront(initial: readonly Upstream[], options: FrontOptions = {}): Promise<Front> {
  let upstreams = [...initial];
  const ready = new Set(upstreams.map((upstream) => upstream.url));
  const streams: ForwardedStream[] = [];
  const open = new Map<string, Set<http.ServerResponse>>();
  const healthPath = options.healthPath ?? "/readyz";
  let turn = 0;

  const healthTimer = setInterval(() => {
    for (const upstream of upstreams) {
      fetch(`${upstream.url}${healthPath}`, { signal: AbortSignal.timeout(HEALTH_INTERVAL_MS * 2) }).then(
        (response) => {
          options.onHealthCheck?.(upstream.name, response.status);
          if (response.status === 200) ready.add(upstream.url);
          else ready.delete(upstream.url);
        },
        () => {
          options.onHealthCheck?.(upstream.name, 0);
          ready.delete(upstream.url);
        },
      );
    }
  }, HEALTH_INTERVAL_MS);

  const server = http.createServer(async (request, response) => {
    if (options.local?.(request, response)) return;
    const body = await readBody(request);
    const candidates = upstreams.filter((upstream) => ready.has(upstream.url));
    const start = turn++;
    const ordered = candidates.map((_, n) => candidates[(start + n) % candidates.length]!);
    forward(request, response, body, ordered, { streams, open });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    streams,
    setUpstreams(next) {
      upstreams = [...next];
      for (const upstream of upstreams) ready.add(upstream.url);
    },
    cut(upstreamName) {
      const responses = [...(open.get(upstreamName) ?? [])];
      for (const response of responses) {
        cutResponses.add(response);
        response.destroy();
      }
      return responses.length;
    },
    async close() {
      clearInterval(healthTimer);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.once("end", () => resolve(Buffer.concat(chunks)));
    request.once("error", reject);
  });
}

/** Responses the front cut on purpose, to tell them from the ones whose client or instance left. */
const cutResponses = new WeakSet<http.ServerResponse>();

interface Tracking {
  readonly streams: ForwardedStream[];
  /** Open responses by instance name. */
  readonly open: Map<string, Set<http.ServerResponse>>;
}

function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  body: Buffer,
  candidates: Upstream[],
  tracking: Tracking,
): void {
  const upstream = candidates.shift();
  if (!upstream) {
    response.writeHead(503, { "content-type": "text/plain" }).end("no healthy gateway instance\n");
    return;
  }
  const headers = withoutHopByHop(request.headers);
  const outgoing = http.request(new URL(request.url ?? "/", upstream.url), { method: request.method, headers, agent: false });
  outgoing.once("error", () => {
    if (!response.headersSent) forward(request, response, body, candidates, tracking);
    else response.destroy();
  });
  outgoing.once("response", (incoming) => {
    if (request.url?.startsWith("/events") && incoming.statusCode === 200) {
      // EventSource resumes with the header; the browser client and others with ?lastEventId=.
      const header = request.headers["last-event-id"];
      const lastEventId = typeof header === "string" ? header : new URL(request.url, "http://front").searchParams.get("lastEventId");
      const stream: ForwardedStream = { upstream: upstream.name, lastEventId: lastEventId ?? undefined, at: Date.now() };
      tracking.streams.push(stream);
      const open = tracking.open.get(upstream.name) ?? new Set();
      tracking.open.set(upstream.name, open.add(response));
      response.once("close", () => {
        open.delete(response);
        stream.endedAt = Date.now();
        stream.endedBy = cutResponses.has(response) ? "cut" : incoming.complete ? "upstream" : "other";
      });
    }
    response.writeHead(incoming.statusCode ?? 502, withoutHopByHop(incoming.headers));
    response.flushHeaders();
    incoming.pipe(response);
    // An instance that dies mid-stream must look dead to the browser too.
    incoming.once("close", () => {
      if (!incoming.complete) response.destroy();
    });
  });
  response.once("close", () => outgoing.destroy());
  outgoing.end(body);
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
}
