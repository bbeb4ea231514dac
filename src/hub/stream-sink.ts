/**
 * Where a subscriber's bytes go: the HTTP layer implements it over an HTTP/1.1 socket or an
 * HTTP/2 stream. The hub only writes ready-made frames and asks how much is still queued.
 */
export interface StreamSink {
  /** Queues bytes for the client; never blocks. */
  write(chunk: Buffer): void;
  /** Bytes written but not yet taken by the client's connection. */
  readonly bufferedBytes: number;
  /** Writes the last bytes, then ends the response cleanly. */
  end(lastChunk?: Buffer): void;
  /** Drops the connection at once (a client that stopped reading). */
  destroy(): void;
  /** Called once when the connection is gone, whoever ended it. */
  onClose(listener: () => void): void;
}
