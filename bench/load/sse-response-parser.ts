/**
 * A lean parser of one SSE response read from a raw socket: the HTTP/1.1 status line and
 * headers, then the body (chunked or close-delimited), split into events. It keeps no more
 * state than one partial line per stream so that one process can hold thousands of streams.
 *
 * Only what the benchmark reads is extracted: the status code and each event's `data` field.
 */
export interface SseResponseHandlers {
  onHead(status: number): void;
  onData(data: string): void;
}

/** Where the chunked decoder is: reading a size line, a chunk's bytes, or the CRLF after them. */
const ChunkState = { Size: 0, Body: 1, BodyEnd: 2 } as const;
type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];

export class SseResponseParser {
  readonly #handlers: SseResponseHandlers;
  #head = "";
  #inBody = false;
  #chunked = false;
  #chunkState: ChunkState = ChunkState.Size;
  #chunkLeft = 0;
  #sizeLine = "";
  #pending = "";
  #data: string | undefined;

  constructor(handlers: SseResponseHandlers) {
    this.#handlers = handlers;
  }

  /** Takes the next bytes read, decoded as latin1 (one char per byte, so chunk sizes count right). */
  push(text: string): void {
    if (this.#inBody) this.#body(text);
    else this.#headText(text);
  }

  #headText(text: string): void {
    this.#head += text;
    const end = this.#head.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.#head.slice(0, end);
    const rest = this.#head.slice(end + 4);
    this.#head = "";
    this.#inBody = true;
    this.#chunked = /^transfer-encoding:\s*chunked/im.test(head);
    this.#handlers.onHead(Number(head.slice(9, 12)));
    if (rest.length > 0) this.#body(rest);
  }

  #body(text: string): void {
    if (this.#chunked) this.#dechunk(text);
    else this.#sse(text);
  }

  #dechunk(text: string): void {
    let at = 0;
    while (at < text.length) {
      if (this.#chunkState === ChunkState.Size) {
        // The size line ends in CRLF; looking for the LF alone copes with a CR at the end of a read.
        const lineEnd = text.indexOf("\n", at);
        if (lineEnd < 0) {
          this.#sizeLine += text.slice(at);
          return;
        }
        this.#chunkLeft = Number.parseInt(this.#sizeLine + text.slice(at, lineEnd), 16);
        this.#sizeLine = "";
        at = lineEnd + 1;
        if (this.#chunkLeft > 0) {
          this.#chunkState = ChunkState.Body;
        } else {
          // The last chunk: only its closing CRLF follows.
          this.#chunkState = ChunkState.BodyEnd;
          this.#chunkLeft = 2;
        }
      } else if (this.#chunkState === ChunkState.Body) {
        const take = Math.min(this.#chunkLeft, text.length - at);
        this.#sse(text.slice(at, at + take));
        at += take;
        this.#chunkLeft -= take;
        if (this.#chunkLeft === 0) {
          this.#chunkState = ChunkState.BodyEnd;
          this.#chunkLeft = 2;
        }
      } else {
        // The CRLF that closes each chunk, possibly split across reads.
        const take = Math.min(this.#chunkLeft, text.length - at);
        at += take;
        this.#chunkLeft -= take;
        if (this.#chunkLeft === 0) this.#chunkState = ChunkState.Size;
      }
    }
  }

  #sse(text: string): void {
    const lines = (this.#pending + text).split("\n");
    this.#pending = lines.pop() ?? "";
    for (const rawLine of lines) {
      const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
      if (line === "") {
        if (this.#data !== undefined) this.#handlers.onData(this.#data);
        this.#data = undefined;
      } else if (line.startsWith("data:")) {
        const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
        this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
      }
    }
  }
}
