import type { EventBus, HistoryPage } from "../bus/event-bus.ts";
import { comparePositions, formatEventId, type EventPosition } from "../events/event-id.ts";
import type { GatewayEvent } from "../events/event.ts";
import { backoffDelay, type BackoffLimits } from "./backoff.ts";
import { controlFrame } from "./frames.ts";
import { HeldEvents, type HeldLimits } from "./held-events.ts";
import type { StreamSink } from "./stream-sink.ts";
import { GATEWAY_VIEW, REFETCH_EVENT, type StreamView } from "./stream-view.ts";

/** What a cursor asks of the bus. */
export type CursorBus = Pick<EventBus, "watch" | "head" | "readPage">;

/** Timers, injectable so that a test can run a cursor's whole life without waiting. */
export interface CursorTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const NODE_TIMERS: CursorTimers = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export { REFETCH_EVENT } from "./stream-view.ts";

const EMPTY_FRAME: Buffer = Buffer.alloc(0);

/** Where a stream starts: after an id the client gave, at the bus's head, or (an id we cannot use) at the head with a refetch. */
export type StreamStart =
  | { readonly kind: "after"; readonly position: EventPosition }
  | { readonly kind: "head" }
  | { readonly kind: "unusable-id" };

/** One stream: whose it is, where its bytes go, what it listens to, where it starts. */
export interface CursorStream {
  readonly userId: string;
  readonly sink: StreamSink;
  readonly channels: readonly string[];
  readonly start: StreamStart;
  /** Which routed events the stream takes and their bytes; the gateway's own (GATEWAY_VIEW) when absent. */
  readonly view?: StreamView;
}

/** What every cursor of a hub shares. */
export interface CursorSettings {
  readonly bus: CursorBus;
  /** Queued bytes past which the client is too slow and is dropped. */
  readonly maxBufferBytes: number;
  /** A client that takes none of its catch-up for this long is dropped. */
  readonly stallMs: number;
  readonly backoff: BackoffLimits;
  readonly timers: CursorTimers;
  readonly random: () => number;
  /** Every bus failure, for the hub to count and log. */
  readonly onBusFailure: (what: string, error: unknown) => void;
  /** The local clock, in ms since the epoch. */
  readonly now: () => number;
  /** Called once when the cursor ends, whatever ended it. */
  readonly onClosed: (cursor: StreamCursor, why: CloseReason) => void;
  /** The heartbeat rotation's tick, kept at each write so that only quiet streams get heartbeats. */
  readonly currentTick: () => number;
}

/** The settings, with the limits derived from them once for all the hub's cursors. */
export interface CursorContext extends CursorSettings {
  readonly pageLimits: { readonly maxEvents: number; readonly maxBytes: number };
  readonly heldLimits: HeldLimits;
}

export function cursorContext(settings: CursorSettings): CursorContext {
  return {
    ...settings,
    pageLimits: { maxEvents: MAX_PAGE_EVENTS, maxBytes: Math.max(1, Math.floor(settings.maxBufferBytes / FLUSH_SHARE)) },
    heldLimits: { maxEvents: MAX_HELD_EVENTS, maxBytes: settings.maxBufferBytes * 2 },
  };
}

export type CloseReason = "client-gone" | "slow-client" | "ended";

/**
 * The states of one stream (README, "Stream lifecycle"). In every state but `live` and `closed`
 * the cursor has exactly one thing under way (a bus call, a flush wait, a retry timer), so it
 * can never sit with nothing that will move it on.
 */
export type CursorState =
  | "opening" // watching the channels, and reading the head when the stream starts there
  | "catching-up" // reading a page of history, or waiting for the client to take the last one
  | "retry-wait" // a bus call failed; the timer retries the step that failed
  | "live"
  | "closed";

/** A page read while the client is behind by this share of its buffer bound is not read yet. */
const FLUSH_SHARE = 4;
const MAX_PAGE_EVENTS = 200;
/** Live events held during a catch-up, at most (and twice the buffer bound in bytes). */
const MAX_HELD_EVENTS = 1000;

/**
 * One open stream's way through its events: where it is (an id, never an event object, so that
 * an idle stream pins no payload), the live events held while it catches up, paged catch-up at
 * the pace the client takes it, and its own retries with backoff and jitter when a bus call
 * fails. The hub routes live events to it and nothing else.
 */
export class StreamCursor {
  readonly userId: string;
  readonly channels: readonly string[];
  readonly sink: StreamSink;
  readonly #view: StreamView;
  /** The heartbeat rotation's bookkeeping (heartbeat-rotation.ts). */
  lastWriteTick = 0;
  rotationBucket = -1;
  rotationIndex = -1;
  readonly #options: CursorContext;
  /** Only while catching up: an idle live stream holds nothing. */
  #held: HeldEvents | undefined;
  /** Failed attempts in a row, for the backoff. */
  #failures = 0;
  readonly #refetchAtStart: boolean;
  #state: CursorState = "opening";
  #ms = 0;
  #seq = 0;
  /** False until the start position is known (for a stream starting at the head: until it answered, or failed). */
  #placed: boolean;
  readonly #openedAt: number;
  /** Live delivery was interrupted during a read, which may then miss events: read once more. */
  #readAgain = false;
  /** Counts steps: a callback of an abandoned step (the cursor closed or moved on) does nothing. */
  #step = 0;
  #timer: unknown;
  /** What a retry runs: the step that failed. */
  #retry: (() => void) | undefined;
  /** The stream's first bytes, until they are written once it is placed. */
  #greeting = EMPTY_FRAME;

  constructor(context: CursorContext, stream: CursorStream) {
    this.#options = context;
    this.userId = stream.userId;
    this.channels = stream.channels;
    this.sink = stream.sink;
    this.#view = stream.view ?? GATEWAY_VIEW;
    this.#placed = stream.start.kind === "after";
    this.#refetchAtStart = stream.start.kind === "unusable-id";
    this.#openedAt = context.now();
    if (stream.start.kind === "after") this.#moveTo(stream.start.position);
  }

  get state(): CursorState {
    return this.#state;
  }

  /** The newest event id this stream was sent, or where it starts. */
  get position(): EventPosition {
    return { ms: this.#ms, seq: this.#seq };
  }

  /** Live events waiting for the catch-up to end, and their bytes of data. */
  get held(): { readonly events: number; readonly bytes: number } {
    return { events: this.#held?.size ?? 0, bytes: this.#held?.bytes ?? 0 };
  }

  /**
   * Starts the stream's life. Its first bytes (the `retry:` hint) wait until the stream knows
   * where it starts, and the response head goes out with them: a client that has seen the 200
   * gets every event published after it.
   */
  start(greeting: Buffer): void {
    if (this.#placed) this.#write(greeting);
    else this.#greeting = greeting;
    void this.#open();
  }

  /**
   * A live event of one of the stream's channels, in id order; `frame` makes its gateway framing,
   * once for every stream (a stream with its own view frames it by the view). Returns whether it
   * was written now.
   */
  offer(event: GatewayEvent, frame: () => Buffer): boolean {
    if (!this.#view.accepts(event)) return false;
    if (this.#state === "live") {
      if (!this.#isNew(event)) return false;
      this.#write(this.#view === GATEWAY_VIEW ? frame() : this.#view.frame(event));
      this.#moveTo(event);
      return true;
    }
    if (this.#state !== "closed") (this.#held ??= new HeldEvents(this.#options.heldLimits)).add(event);
    return false;
  }

  /** Live delivery may have missed events: catch up from history again. */
  resync(): void {
    if (this.#state === "live") this.#catchUp();
    else if (this.#state === "catching-up") this.#readAgain = true;
    else if (this.#state === "retry-wait") {
      // The bus says it works again: no reason to wait out the backoff.
      this.#failures = 0;
      this.#retry?.();
    }
  }

  /** Writes a frame of no event (a heartbeat comment); none before the stream's first bytes. */
  writeFrame(frame: Buffer): void {
    if (this.#state !== "closed" && this.#placed) this.#write(frame);
  }

  /** Ends the stream with last bytes (token expiry, drain). */
  end(lastChunk?: Buffer): void {
    if (this.#state === "closed") return;
    // Closed first: a sink may report its close at once, and this is why it closes.
    this.#close("ended");
    this.sink.end(lastChunk);
  }

  /** Drops the connection at once (shutdown, or a client too slow). */
  destroy(why: CloseReason = "ended"): void {
    if (this.#state === "closed") return;
    this.#close(why);
    this.sink.destroy();
  }

  /** The connection is gone (the sink closed). */
  clientGone(): void {
    this.#close("client-gone");
  }

  async #open(): Promise<void> {
    const step = this.#begin("opening");
    if (step === undefined) return;
    let head: EventPosition | undefined;
    try {
      const watched = this.channels.map((channel) => this.#options.bus.watch(channel));
      [head] = await Promise.all([this.#placed ? undefined : this.#options.bus.head(), ...watched]);
    } catch (error) {
      // Without an answer the local clock stands in for the head (ids are milliseconds of clocks
      // kept in sync): waiting for the head would skip what is published between the bus coming
      // back and the retry.
      if (step === this.#step && !this.#placed) this.#place({ ms: this.#openedAt - 1, seq: 0 });
      this.#failed(step, "starting a stream", error, () => void this.#open());
      return;
    }
    if (step !== this.#step) return;
    this.#failures = 0;
    if (head) this.#place(head);
    this.#catchUp();
  }

  #place(start: EventPosition): void {
    this.#placed = true;
    this.#moveTo(start);
    this.#write(this.#greeting);
    // Written once: kept, a small Buffer would pin its share of a pool slab for the stream's life.
    this.#greeting = EMPTY_FRAME;
    if (this.#refetchAtStart) {
      this.#write(controlFrame(REFETCH_EVENT, { reason: "unusable-last-event-id" }, formatEventId(start)));
    } else {
      this.#write(this.#view.positionFrame(start));
    }
  }

  #catchUp(): void {
    void this.#readPage();
  }

  async #readPage(): Promise<void> {
    const step = this.#begin("catching-up");
    if (step === undefined) return;
    this.#readAgain = false;
    this.#held?.readBegins();
    let page: HistoryPage;
    try {
      page = await this.#options.bus.readPage(this.channels, this.position, this.#options.pageLimits);
    } catch (error) {
      this.#failed(step, "reading history", error, () => this.#catchUp());
      return;
    }
    if (step !== this.#step) return;
    this.#failures = 0;
    const ahead = comparePositions(this.position, page.head) > 0;
    // A position ahead of everything issued and of the clock is another data set's (another
    // deployment's, a clock gone wrong): what the client holds cannot be caught up from here.
    const foreign = ahead && this.#ms > this.#options.now();
    if (!page.complete || foreign) {
      // History no longer reaches back to the position: the client reloads its state as of head.
      this.#moveTo(page.head);
      this.#write(this.#view.gapFrame(page.head));
    } else {
      this.#writeAll(page.events);
      // Ahead of the head but not of the clock: the clock stood in for a head the bus did not give.
      if (ahead) this.#moveTo(page.head);
    }
    if (step !== this.#step) return;
    if (!page.complete || page.more || this.#readAgain || this.#held?.overflowed) this.#afterFlush(step, () => this.#catchUp());
    else this.#goLive();
  }

  #goLive(): void {
    if (this.#begin("live") === undefined) return;
    const held = this.#held?.takeAll() ?? [];
    this.#held = undefined;
    this.#writeAll(held);
  }

  /** Writes the events newer than the position, in order; stops if the stream closes meanwhile. */
  #writeAll(events: readonly GatewayEvent[]): void {
    for (const event of events) {
      if (this.#state === "closed") return;
      if (!this.#isNew(event) || !this.#view.accepts(event)) continue;
      this.#write(this.#view.frame(event));
      this.#moveTo(event);
    }
  }

  /**
   * Runs `next` once the client has taken what was written, or at once when little is queued.
   * A client that takes nothing for stallMs is too slow for its catch-up and is dropped.
   */
  #afterFlush(step: number, next: () => void): void {
    if (this.sink.bufferedBytes <= this.#options.pageLimits.maxBytes) {
      next();
      return;
    }
    let queued = this.sink.bufferedBytes;
    const checkProgress = (): void => {
      if (step !== this.#step) return;
      if (this.sink.bufferedBytes >= queued) {
        this.destroy("slow-client");
        return;
      }
      queued = this.sink.bufferedBytes;
      this.#timer = this.#options.timers.set(checkProgress, this.#options.stallMs);
    };
    this.#timer = this.#options.timers.set(checkProgress, this.#options.stallMs);
    this.sink.onFlushed(() => {
      if (step !== this.#step) return;
      this.#clearTimer();
      next();
    });
  }

  /** The one place every failed bus call goes: the step that failed runs again after a backoff. */
  #failed(step: number, what: string, error: unknown, again: () => void): void {
    if (step !== this.#step) return;
    this.#options.onBusFailure(what, error);
    const retryStep = this.#begin("retry-wait")!;
    this.#retry = again;
    this.#timer = this.#options.timers.set(() => {
      if (retryStep === this.#step) again();
    }, backoffDelay(this.#failures++, this.#options.backoff, this.#options.random));
  }

  /** Enters a state, abandoning what the previous step waited for; undefined once closed. */
  #begin(state: CursorState): number | undefined {
    if (this.#state === "closed") return undefined;
    this.#clearTimer();
    this.#retry = undefined;
    this.#state = state;
    return ++this.#step;
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#options.timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #write(frame: Buffer): void {
    this.lastWriteTick = this.#options.currentTick();
    this.sink.write(frame);
    if (this.sink.bufferedBytes > this.#options.maxBufferBytes) this.destroy("slow-client");
  }

  #close(why: CloseReason): void {
    if (this.#begin("closed") === undefined) return;
    this.#held = undefined;
    this.#options.onClosed(this, why);
  }

  #isNew(event: EventPosition): boolean {
    return event.ms > this.#ms || (event.ms === this.#ms && event.seq > this.#seq);
  }

  #moveTo(position: EventPosition): void {
    this.#ms = position.ms;
    this.#seq = position.seq;
  }
}
