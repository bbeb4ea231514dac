import { fastifySSE } from "@fastify/sse";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { FastifySSEPlugin } from "fastify-sse-v2";
import { writerVariant, type WriterVariant } from "./variants.ts";

/**
 * One fastify server whose streams all follow one topic, written with the SSE writer named in
 * argv[2]. `POST /publish` fans its body out to every stream as one event's data; the four
 * variants differ only in how a stream is opened and written to.
 */
interface Stream {
  /** Writes one event whose data field is `data` (serialised once into `frame` for raw writers). */
  send(data: string, frame: Buffer): void;
}

const HEARTBEAT_INTERVAL_MS = 15_000;
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const streams = new Set<Stream>();
const variant: WriterVariant = writerVariant(process.argv[2]);
const app = Fastify({ logger: false });

function hold(request: FastifyRequest, stream: Stream): void {
  streams.add(stream);
  request.raw.socket.once("close", () => streams.delete(stream));
}

/** A hand-written writer on Node's response: every write becomes one chunk of a chunked body. */
function rawChunked(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  reply.raw.writeHead(200, SSE_HEADERS);
  reply.raw.write(":\n\n");
  hold(request, { send: (_data, frame) => void reply.raw.write(frame) });
}

/** A hand-written writer on the socket: the body is delimited by closing the connection. */
function rawClose(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  const socket = request.raw.socket;
  socket.setNoDelay(true);
  socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n:\n\n");
  hold(request, { send: (_data, frame) => void socket.write(frame) });
}

/** fastify-sse-v2's `reply.sse(message)`; both plugins declare `reply.sse`, so its type is restated here. */
type SseV2Reply = { sse(message: { event?: string; data: string }): void };

function fastifySseV2(request: FastifyRequest, reply: FastifyReply): void {
  const sse = reply as unknown as SseV2Reply;
  sse.sse({ event: "open", data: "{}" });
  hold(request, { send: (data) => sse.sse({ data }) });
}

async function start(): Promise<void> {
  if (variant === "@fastify/sse") {
    // The payload is already JSON text: sent as is, like the other writers send it.
    await app.register(fastifySSE, { heartbeatInterval: HEARTBEAT_INTERVAL_MS, serializer: (data: unknown) => String(data) });
    app.get("/events", { sse: "only" }, async (request, reply) => {
      reply.sse.keepAlive();
      reply.sse.sendHeaders();
      // The head would otherwise wait for the first event or heartbeat.
      reply.raw.flushHeaders();
      hold(request, { send: (data) => void reply.sse.send({ data }).catch(() => undefined) });
    });
  } else if (variant === "fastify-sse-v2") {
    await app.register(FastifySSEPlugin, { retryDelay: false });
    app.get("/events", fastifySseV2);
  } else {
    app.get("/events", variant === "raw-chunked" ? rawChunked : rawClose);
  }
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) => done(null, body));
  app.post<{ Body: string }>("/publish", async (request, reply) => {
    const frame = Buffer.from(`data: ${request.body}\n\n`);
    for (const stream of streams) stream.send(request.body, frame);
    return reply.code(202).send();
  });
  app.get("/healthz", async () => "ok");
  if (variant === "raw-chunked" || variant === "raw-close") {
    const heartbeat = Buffer.from(":\n\n");
    setInterval(() => {
      for (const stream of streams) stream.send("", heartbeat);
    }, HEARTBEAT_INTERVAL_MS);
  }
  await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
}

await start();
