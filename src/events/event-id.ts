/**
 * Event ids are "<ms>-<seq>": the publishing clock's milliseconds and a counter within that
 * millisecond. They grow monotonically for the whole gateway (one clock per process, or Redis's
 * clock for a cluster), so "after id X" means the same thing on every instance and survives a
 * restart of either, which a plain counter would not. Clients treat them as opaque.
 */
export interface EventPosition {
  readonly ms: number;
  readonly seq: number;
}

const ID_PATTERN = /^(\d{1,15})-(\d{1,9})$/;

export function formatEventId(position: EventPosition): string {
  return `${position.ms}-${position.seq}`;
}

/** Parses an id, or returns undefined when the text is not one of ours. */
export function parseEventId(text: string): EventPosition | undefined {
  const match = ID_PATTERN.exec(text);
  if (!match) return undefined;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

export function comparePositions(a: EventPosition, b: EventPosition): number {
  return a.ms === b.ms ? a.seq - b.seq : a.ms - b.ms;
}

export const ORIGIN: EventPosition = { ms: 0, seq: 0 };

/** Issues strictly increasing ids from the local clock, even if the wall clock steps back. */
export class EventIdClock {
  #last: EventPosition = ORIGIN;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  next(): EventPosition {
    const ms = this.#now();
    this.#last = ms > this.#last.ms ? { ms, seq: 0 } : { ms: this.#last.ms, seq: this.#last.seq + 1 };
    return this.#last;
  }

  get last(): EventPosition {
    return this.#last;
  }
}
