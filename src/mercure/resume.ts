import { BusUnavailableError, type EventBus } from "../bus/event-bus.ts";
import { parseEventId, type EventPosition } from "../events/event-id.ts";
import type { StreamStart } from "../hub/stream-cursor.ts";
import { generatedId, parseGeneratedId } from "./update.ts";

/** The reserved Last-Event-ID of the protocol: everything history still holds. */
export const EARLIEST = "earliest";

/** Where a subscription starts, and the Last-Event-ID its response header carries. */
export interface Resume {
  readonly start: StreamStart;
  readonly lastEventId: string;
}

export interface ResumeContext {
  readonly bus: Pick<EventBus, "head" | "readPage" | "findByIdempotencyKey">;
  /** The bus key of a publisher's update id (its idempotency key). */
  readonly keyOfId: (id: string) => string;
  /** HISTORY_MAX_AGE_MS: history holds nothing older. */
  readonly maxAgeMs: number;
  readonly now: () => number;
}

const PROBE = { maxEvents: 1, maxBytes: 1 };
/** How long the oldest complete position of a set of channels is reused: a burst of `earliest` subscriptions searches once. */
const OLDEST_REUSE_MS = 1000;
const MAX_REMEMBERED = 1000;

/** The largest sequence number within a millisecond (event-id.ts parses at most 9 digits). */
const LAST_SEQ = 999_999_999;

/**
 * Resolves a requested Last-Event-ID: no id starts at the present (and names it); `earliest`,
 * an unknown id and one history no longer reaches back to start from the oldest event history
 * still holds, answered as `earliest`, never refused (any answer but 200 stops an EventSource for
 * good). With the bus down a generated id is resumed from all the same (the stream catches up
 * once the bus answers); anything else starts at the present.
 */
export class Resumer {
  readonly #context: ResumeContext;
  readonly #oldestKnown = new Map<string, { readonly position: EventPosition; readonly at: number }>();

  constructor(context: ResumeContext) {
    this.#context = context;
  }

  resolve(channels: readonly string[], requested: string | undefined): Promise<Resume> {
    return resolveResume(this.#context, channels, requested, (of) => this.#oldestRemembered(of));
  }

  async #oldestRemembered(channels: readonly string[]): Promise<EventPosition> {
    const key = JSON.stringify(channels);
    const known = this.#oldestKnown.get(key);
    if (known && this.#context.now() - known.at < OLDEST_REUSE_MS) return known.position;
    const position = await oldestComplete(this.#context, channels);
    if (this.#oldestKnown.size >= MAX_REMEMBERED) this.#oldestKnown.clear();
    this.#oldestKnown.set(key, { position, at: this.#context.now() });
    return position;
  }
}

async function resolveResume(
  context: ResumeContext,
  channels: readonly string[],
  requested: string | undefined,
  oldest: (channels: readonly string[]) => Promise<EventPosition>,
): Promise<Resume> {
  try {
    if (requested === undefined || requested === "") {
      const head = await context.bus.head();
      return { start: { kind: "after", position: head }, lastEventId: generatedId(head) };
    }
    const position = requested === EARLIEST ? undefined : await positionOf(context, requested);
    if (position && (await context.bus.readPage(channels, position, PROBE)).complete) return { start: { kind: "after", position }, lastEventId: requested };
    return { start: { kind: "after", position: await oldest(channels) }, lastEventId: EARLIEST };
  } catch (error) {
    if (!(error instanceof BusUnavailableError)) throw error;
    // A generated id is its own position: the stream catches up from it once the bus answers.
    // A publisher's id needs the bus to be found, so that stream starts at the present.
    const generated = requested === undefined ? undefined : parseGeneratedId(requested);
    if (generated) return { start: { kind: "after", position: generated }, lastEventId: requested! };
    return { start: { kind: "head" }, lastEventId: EARLIEST };
  }
}

async function positionOf(context: ResumeContext, id: string): Promise<EventPosition | undefined> {
  const generated = parseGeneratedId(id);
  if (generated) return generated;
  const eventId = await context.bus.findByIdempotencyKey(context.keyOfId(id));
  return eventId === undefined ? undefined : parseEventId(eventId);
}

/**
 * The oldest position from which history still holds every event of the channels. The bus says
 * only whether a read after a position is complete, which holds from some point on: a binary
 * search over the milliseconds history may span, then over the sequence numbers of the one
 * millisecond found (about 50 small reads, for `earliest` and lost ids alone).
 */
async function oldestComplete(context: ResumeContext, channels: readonly string[]): Promise<EventPosition> {
  const complete = async (position: EventPosition) => (await context.bus.readPage(channels, position, PROBE)).complete;
  const head = await context.bus.head();
  const oldest = Math.max(0, context.now() - context.maxAgeMs - 1);
  if (await complete({ ms: oldest, seq: LAST_SEQ })) return { ms: oldest, seq: LAST_SEQ };
  if (!(await complete(head))) return head;
  const ms = await firstTrue(oldest, Math.max(head.ms, oldest + 1), (candidate) => complete({ ms: candidate, seq: LAST_SEQ }));
  // After (ms - 1, LAST_SEQ) is incomplete and after (ms, LAST_SEQ) complete: find the sequence number.
  const seq = await firstTrue(-1, LAST_SEQ, (candidate) => complete({ ms, seq: candidate }));
  return { ms, seq };
}

/** The least value in (low, high] for which the monotone predicate holds, given it fails at low and holds at high. */
async function firstTrue(low: number, high: number, holds: (value: number) => Promise<boolean>): Promise<number> {
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await holds(middle)) high = middle;
    else low = middle;
  }
  return high;
}
