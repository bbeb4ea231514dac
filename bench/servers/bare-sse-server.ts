import { createServer, type ServerResponse } from "node:http";

/**
 * The floor: a bare Node.js SSE server with no auth, history or limits. A stream follows one
 * channel (`GET /events?channel=c`); `POST /publish?channel=c` serialises one frame and writes
 * it to every stream of the channel; one timer sends heartbeats to all.
 */
const HEARTBEAT = Buffer.from(":\n\n");
const channels = new Map<string, Set<ServerResponse>>();

function subscribe(channel: string, res: ServerResponse): void {
  const streams = channels.get(channel) ?? new Set<ServerResponse>();
  channels.set(channel, streams);
  streams.add(res);
  res.on("close", () => streams.delete(res));
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  res.write(HEARTBEAT);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const channel = url.searchParams.get("channel") ?? "";
  if (req.method === "GET" && url.pathname === "/events") return subscribe(channel, res);
  if (req.method === "POST" && url.pathname === "/publish") {
    const parts: Buffer[] = [];
    req.on("data", (part: Buffer) => parts.push(part));
    req.on("end", () => {
      const frame = Buffer.from(`data: ${Buffer.concat(parts).toString()}\n\n`);
      for (const stream of channels.get(channel) ?? []) stream.write(frame);
      res.writeHead(202).end();
    });
    return;
  }
  res.writeHead(url.pathname === "/healthz" ? 200 : 404).end();
});

setInterval(() => {
  for (const streams of channels.values()) for (const stream of streams) stream.write(HEARTBEAT);
}, Number(process.env.HEARTBEAT_INTERVAL_MS ?? 15_000));

server.requestTimeout = 0;
server.listen(Number(process.env.PORT ?? 8090), process.env.HOST ?? "127.0.0.1");
