import { connect, type Socket } from "node:net";
import { monotonicMs } from "../lib/clock.ts";
import { LatencyHistogram } from "../lib/histogram.ts";
import { subscribePath, type Target } from "../servers/protocol.ts";
import { SseResponseParser } from "./sse-response-parser.ts";
import { sentAtOf, type Envelope, type WorkerCommand, type WorkerReply } from "./worker-protocol.ts";

/**
 * A load worker: a child process holding thousands of SSE streams on raw sockets, counting
 * events and their latency. Worker number argv[2] connects from the loopback addresses
 * 127.<n+1>.0.2 to 127.<n+1>.0.254 in turn: binding a source address searches its ports, and
 * across runs tens of thousands of ports of one address stay in TIME_WAIT, which made opening
 * streams from a single address crawl.
 */
const WORKER_NUMBER = Number(process.argv[2] ?? 0);
const SOURCE_ADDRESSES = 253;
const HOST = "127.0.0.1";
let connections = 0;

function nextSourceAddress(): string {
  return `127.${WORKER_NUMBER + 1}.0.${2 + (connections++ % SOURCE_ADDRESSES)}`;
}
/** Connections being set up at once: enough to be quick, few enough not to overflow the accept queue. */
const OPEN_CONCURRENCY = 128;
const OPEN_TIMEOUT_MS = 20_000;
/**
 * Every socket reads into this one buffer (net's `onread`): no Buffer per read and no stream
 * machinery per event, which halves the load side's CPU per delivery. Each read is parsed
 * before the next one can happen, so sharing is safe.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const sockets = new Set<Socket>();
let histogram = new LatencyHistogram();
let deliveries = 0;
let lastReceiptMs = 0;

function onEvent(data: string): void {
  const receivedAt = monotonicMs();
  const sentAt = sentAtOf(data);
  if (Number.isNaN(sentAt)) return;
  deliveries++;
  lastReceiptMs = receivedAt;
  histogram.record(receivedAt - sentAt);
}

/** Resolves with an error message, or undefined once the server answered 200 with the stream's head. */
function openStream(port: number, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const parser = new SseResponseParser({
      onHead: (status) => finish(status === 200 ? undefined : `HTTP ${status}`),
      onData: onEvent,
    });
    const socket = connect({
      host: HOST,
      port,
      localAddress: nextSourceAddress(),
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number): boolean => {
          parser.push(READ_BUFFER.toString("latin1", 0, length));
          return true;
        },
      },
    });
    const timer = setTimeout(() => finish("timed out"), OPEN_TIMEOUT_MS);
    let settled = false;
    const finish = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) sockets.add(socket);
      else socket.destroy();
      resolve(error);
    };
    socket.on("connect", () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    socket.on("error", (error) => finish(error.message));
    socket.on("close", () => {
      finish("closed before the response");
      sockets.delete(socket);
    });
  });
}

async function openAll(command: Extract<WorkerCommand, { type: "open" }>): Promise<WorkerReply> {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const lane = async (): Promise<void> => {
    while (next < command.count) {
      const index = command.from + next++;
      const target: Target = command.mode === "topic" ? { topic: command.topic } : { user: `u${index}` };
      const error = await openStream(command.port, await subscribePath(command.kind, target, index, command.secret));
      if (error !== undefined) {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, command.count) }, lane));
  return { type: "opened", open: sockets.size, failed, ...(firstError === undefined ? {} : { firstError }) };
}

function closeSome(count: number): WorkerReply {
  let closing = count;
  for (const socket of sockets) {
    if (closing-- <= 0) break;
    sockets.delete(socket);
    socket.destroy();
  }
  return { type: "state", open: sockets.size };
}

async function handle(command: WorkerCommand): Promise<WorkerReply> {
  switch (command.type) {
    case "open":
      return openAll(command);
    case "reset":
      histogram = new LatencyHistogram();
      deliveries = 0;
      lastReceiptMs = 0;
      return { type: "state", open: sockets.size };
    case "report": {
      const usage = process.cpuUsage();
      return {
        type: "report",
        open: sockets.size,
        deliveries,
        latencyCounts: histogram.counts,
        lastReceiptMs,
        cpuSeconds: (usage.user + usage.system) / 1e6,
      };
    }
    case "close":
      return closeSome(command.count);
  }
}

process.on("message", (message: Envelope<WorkerCommand>) => {
  void handle(message.body).then((body) => process.send?.({ id: message.id, body } satisfies Envelope<WorkerReply>));
});
process.on("disconnect", () => process.exit(0));
