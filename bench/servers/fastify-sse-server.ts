import type { ServerResponse } from "node:http";
import fastify from "fastify";

/**
 * bare-sse-server.ts's floor on fastify: the same streams and publish (`GET /events?channel=c`,
 * `POST /publish?channel=c`), routed by fastify with a JSON body and a serialised 202 answer as
 * the gateway's. Nothing else: no auth, history, limits or metrics. What fastify adds to bare
 * Node per request is the part of the gateway's `POST /publish` cost that is fastify's.
 */
const HEARTBEAT = Buffer.from(":\n\n");
const channels = new Map<string, Set<ServerResponse>>();
const app = fastify({ logger: { level: "warn" } });

app.get<{ Querystring: { channel?: string } }>("/events", (request, reply) => {
  const res = reply.raw;
  const channel = request.query.channel ?? "";
  const streams = channels.get(channel) ?? new Set<ServerResponse>();
  channels.set(channel, streams);
  streams.add(res);
  res.on("close", () => streams.delete(res));
  reply.hijack();
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  res.write(HEARTBEAT);
});

const answer = { type: "object", properties: { id: { type: "string" }, duplicate: { type: "boolean" } } } as const;
app.post<{ Querystring: { channel?: string } }>("/publish", { schema: { response: { 202: answer } } }, async (request, reply) => {
  const frame = Buffer.from(`data: ${JSON.stringify(request.body)}\n\n`);
  for (const stream of channels.get(request.query.channel ?? "") ?? []) stream.write(frame);
  return reply.code(202).send({ id: "0-0", duplicate: false });
});
app.get("/healthz", async () => "ok");

setInterval(() => {
  for (const streams of channels.values()) for (const stream of streams) stream.write(HEARTBEAT);
}, Number(process.env.HEARTBEAT_INTERVAL_MS ?? 15_000));

await app.listen({ port: Number(process.env.PORT ?? 8091), host: process.env.HOST ?? "127.0.0.1" });
