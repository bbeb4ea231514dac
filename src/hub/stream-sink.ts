/**
 * Where a stream's bytes go: the HTTP layer implements it over an HTTP/1.1 socket or an HTTP/2
 * stream. The hub only writes ready-made frames and asks how much is still queued.
 */
export interface StreamSink {
  /** Queues bytes for the client; never blocks. */
  write(chunk: Buffer): void;
  /** Bytes written but not yet taken by the client's connection. */
  readonly bufferedBytes: number;
  /** Calls back once every byte written so far has been taken (at once when none is queued). */
  onFlushed(listener: () => void): void;
  /** Writes the last bytes, then ends the response cleanly. */
  end(lastChunk?: Buffer): void;
  /** Drops the connection at once (a client that stopped reading). */
  destroy(): void;
  /**
   * Called once when the connection is gone, whoever ended it; at once, before onClose returns,
   * when it is gone already (a client that left while its token was being checked).
   */
  onClose(listener: () => void): void;
}
