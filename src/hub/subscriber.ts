import { ORIGIN, comparePositions, type EventPosition } from "../events/event-id.ts";
import type { GatewayEvent } from "../events/event.ts";
import type { StreamSink } from "./stream-sink.ts";

/** Live events held back while a subscriber catches up from history; past this, history is read again. */
const MAX_PENDING = 1000;

/** One open stream: who it is, what it listens to, and how far it has been served. */
export class Subscriber {
  readonly userId: string;
  readonly channels: readonly string[];
  readonly sink: StreamSink;
  /** Seconds since the epoch when the token expires (JWT `exp`), if it does. */
  readonly expiresAt: number | undefined;
  /** The newest event this stream has been sent: later deliveries at or before it are repeats. */
  position: EventPosition = ORIGIN;
  /** Until the stream has caught up from history, live events wait here instead of being written. */
  pending: GatewayEvent[] | undefined = [];
  /** More live events arrived during catch-up than are held: history must be read again. */
  pendingOverflowed = false;
  /** A history read for this stream is in flight. */
  catchingUp = false;
  /** Another catch-up was asked for while one was in flight. */
  catchUpAgain = false;
  /** Hub tick of the last write, to skip heartbeats on busy streams. */
  lastWriteTick = 0;
  /** Place in the hub's heartbeat rotation, kept for O(1) removal. */
  rotationBucket = -1;
  rotationIndex = -1;
  closed = false;

  constructor(userId: string, channels: readonly string[], sink: StreamSink, expiresAt?: number) {
    this.userId = userId;
    this.channels = channels;
    this.sink = sink;
    this.expiresAt = expiresAt;
  }

  /** True when the event is newer than anything this stream was sent. */
  isNew(event: EventPosition): boolean {
    return comparePositions(event, this.position) > 0;
  }

  /** Holds a live event during catch-up; past the bound, marks the stream to re-read history instead. */
  hold(event: GatewayEvent): void {
    if (this.pendingOverflowed) return;
    if (this.pending!.length < MAX_PENDING) {
      this.pending!.push(event);
      return;
    }
    this.pending = [];
    this.pendingOverflowed = true;
  }
}
