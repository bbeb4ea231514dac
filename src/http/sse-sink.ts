import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerResponse, OutgoingHttpHeaders } from "node:http2";
import type { Socket } from "node:net";
import type { StreamSink } from "../hub/stream-sink.ts";

const EMPTY = Buffer.alloc(0);

type ExtraHeaders = Readonly<Record<string, string | number | string[] | undefined>>;

/** The head of every SSE response (and of a HEAD /events that would open one). */
export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
} as const;

/** On HTTP/1.1 the body ends when the connection does; these override any header of the same name. */
const HTTP1_SSE_HEADERS: Readonly<Record<string, string>> = { ...SSE_HEADERS, connection: "close" };
const HTTP1_SSE_HEAD_END = `${Object.entries(HTTP1_SSE_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`;

/**
 * Prepares an SSE response on the raw connection and returns the sink the hub writes to. The
 * head goes out with the first bytes of the body: the hub writes them once it knows where the
 * stream starts, so a client that has seen the 200 gets every event published after it.
 * `extraHeaders` are the ones fastify hooks put on the reply (CORS, request id).
 */
export function openSseResponse(
  request: IncomingMessage,
  response: ServerResponse | Http2ServerResponse,
  extraHeaders: ExtraHeaders,
): StreamSink {
  if ("stream" in response) return new Http2Sink(response, extraHeaders);
  return new Http1Sink(request.socket, extraHeaders);
}

/**
 * Whether the client's connection (HTTP/1.1 socket, HTTP/2 stream) is already gone, or not this
 * response's: Node gives an HTTP/1.1 socket to a pipelined request's response only once the
 * responses before it have ended, and a stream's never does (its `connection: close` ends the
 * connection's requests), so a stream written to the socket would land inside the earlier body.
 */
export function connectionGone(request: IncomingMessage, response: ServerResponse | Http2ServerResponse): boolean {
  if ("stream" in response) return response.stream.destroyed || response.stream.closed;
  return request.socket.destroyed || response.socket !== request.socket;
}

/**
 * HTTP/1.1: the head is written straight to the socket and the body is delimited by closing the
 * connection, so each event is one plain socket write. Node's ServerResponse would add chunked
 * framing to every write; on fan-out that costs measurably more CPU (README, Design decisions).
 */
class Http1Sink implements StreamSink {
  readonly #socket: Socket;
  /** The response head, until the first bytes of the body go out with it. */
  #head: string | undefined;

  constructor(socket: Socket, extraHeaders: ExtraHeaders) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    let head = "HTTP/1.1 200 OK\r\n";
    for (const name in extraHeaders) {
      const value = extraHeaders[name];
      if (value !== undefined && !Object.hasOwn(HTTP1_SSE_HEADERS, name)) head += `${name}: ${Array.isArray(value) ? value.join(", ") : value}\r\n`;
    }
    this.#head = head + HTTP1_SSE_HEAD_END;
  }

  write(chunk: Buffer): void {
    this.#sendHead();
    this.#socket.write(chunk);
  }

  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  onFlushed(listener: () => void): void {
    // An empty write completes once everything queued before it has been handed to the kernel.
    if (this.#socket.writableLength === 0) listener();
    else this.#socket.write(EMPTY, () => listener());
  }

  end(lastChunk?: Buffer): void {
    this.#sendHead();
    if (lastChunk) this.#socket.end(lastChunk);
    else this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * The head is corked with the bytes written in the same tick (the `retry:` hint and the
   * stream's position): one write to the kernel per open instead of one per piece.
   */
  #sendHead(): void {
    if (this.#head === undefined) return;
    this.#socket.cork();
    this.#socket.write(this.#head);
    this.#head = undefined;
    process.nextTick(uncork, this.#socket);
  }

  onClose(listener: () => void): void {
    // A socket closes once: `on` spares the wrapper `once` would keep for every stream.
    if (this.#socket.destroyed) listener();
    else this.#socket.on("close", listener);
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}

/** HTTP/2: one stream of the shared connection; connection-specific HTTP/1.1 headers must not appear. */
class Http2Sink implements StreamSink {
  readonly #response: Http2ServerResponse;

  /** The response headers, until the first bytes of the body go out after them. */
  #headers: OutgoingHttpHeaders | undefined;

  constructor(response: Http2ServerResponse, extraHeaders: ExtraHeaders) {
    this.#response = response;
    this.#headers = { ":status": 200, ...extraHeaders, ...SSE_HEADERS };
  }

  write(chunk: Buffer): void {
    this.#sendHead();
    this.#response.stream.write(chunk);
  }

  #sendHead(): void {
    if (this.#headers === undefined) return;
    if (!this.#response.stream.destroyed) this.#response.stream.respond(this.#headers);
    this.#headers = undefined;
  }

  get bufferedBytes(): number {
    return this.#response.stream.writableLength;
  }

  onFlushed(listener: () => void): void {
    const stream = this.#response.stream;
    if (stream.writableLength === 0) listener();
    else stream.write(EMPTY, () => listener());
  }

  end(lastChunk?: Buffer): void {
    this.#sendHead();
    this.#response.stream.end(lastChunk);
  }

  destroy(): void {
    this.#response.stream.destroy();
  }

  onClose(listener: () => void): void {
    const stream = this.#response.stream;
    if (stream.destroyed || stream.closed) listener();
    else stream.once("close", listener);
  }
}
