import type { StreamSink } from "../../src/hub/stream-sink.ts";

/** One SSE frame as a client would see it. */
export interface SeenFrame {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
}

/**
 * A StreamSink with a client the test drives: bytes queue until the test lets the client take
 * them (or at once when `reading`), and the client can leave at any moment. Frames are parsed
 * as they are written, so a test reads what the client got in order.
 */
export class TestSink implements StreamSink {
  readonly frames: SeenFrame[] = [];
  /** Whether the client takes every byte at once. */
  reading: boolean;
  /** Bytes written after end(): a write to an ended response. */
  writesAfterEnd = 0;
  readonly #closesOnEnd: boolean;
  #queued = 0;
  #closed = false;
  #ended = false;
  #closeListeners: (() => void)[] = [];
  #flushListeners: (() => void)[] = [];

  /** `closesOnEnd: false`: the connection stays after end() (a client slow to see the close). */
  constructor(options: { reading?: boolean; closesOnEnd?: boolean } = {}) {
    this.reading = options.reading ?? true;
    this.#closesOnEnd = options.closesOnEnd ?? true;
  }

  get bufferedBytes(): number {
    return this.#queued;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The stream was ended cleanly by the server (not dropped). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Flush waits the sink holds: a cursor waiting for the client is waiting here. */
  get flushWaits(): number {
    return this.#flushListeners.length;
  }

  /** Data events (not gateway.* control events, not comments), in the order written. */
  get dataEvents(): SeenFrame[] {
    return this.frames.filter((frame) => frame.event !== undefined && !frame.event.startsWith("gateway."));
  }

  write(chunk: Buffer): void {
    if (this.#closed) return;
    if (this.#ended) this.writesAfterEnd += chunk.length;
    this.frames.push(...parseFrames(chunk.toString()));
    if (!this.reading) this.#queued += chunk.length;
  }

  onFlushed(listener: () => void): void {
    if (this.#queued === 0 || this.#closed) listener();
    else this.#flushListeners.push(listener);
  }

  end(lastChunk?: Buffer): void {
    if (lastChunk) this.write(lastChunk);
    this.#ended = true;
    if (this.#closesOnEnd) this.clientLeaves();
  }

  destroy(): void {
    this.clientLeaves();
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#closeListeners.push(listener);
  }

  /** The client takes up to `bytes` of what is queued (all of it when omitted). */
  take(bytes = Infinity): void {
    this.#queued = Math.max(0, this.#queued - bytes);
    if (this.#queued > 0) return;
    const listeners = this.#flushListeners;
    this.#flushListeners = [];
    for (const listener of listeners) listener();
  }

  /** The connection goes away (a reset, a closed tab). */
  clientLeaves(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queued = 0;
    this.#flushListeners = [];
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener();
  }
}

function parseFrames(text: string): SeenFrame[] {
  const frames: SeenFrame[] = [];
  for (const block of text.split("\n\n")) {
    if (block === "" || block.startsWith(":") || block.startsWith("retry:")) continue;
    const frame: { id?: string; event?: string; data?: string } = {};
    for (const line of block.split("\n")) {
      const colon = line.indexOf(": ");
      const field = line.slice(0, colon);
      const value = line.slice(colon + 2);
      if (field === "id" || field === "event" || field === "data") frame[field] = value;
    }
    frames.push(frame);
  }
  return frames;
}
