/**
 * When each stream's next heartbeat is due, from one timer: a wheel of one bucket per tick (a
 * slice of the heartbeat interval). A member sits in the bucket of the tick at which it will have
 * been quiet for a whole interval; that tick's bucket is all the work it does. A member written
 * to meanwhile is moved on lazily, when its old bucket comes up. So every member gets a byte
 * within the interval of its last one, whatever opens and closes in between, and a tick touches
 * only the members due in it (writing a heartbeat to 10k sockets in one tick stalls the event
 * loop for hundreds of ms; a slice of them does not).
 */
/** Heartbeat ticks per interval: the hub's one timer fires this often per interval. */
export const HEARTBEAT_SLICES = 30;

/** The longest a stream goes without a byte: the interval plus one slice (timer slack). */
export function longestSilenceMs(heartbeatIntervalMs: number): number {
  return heartbeatIntervalMs + heartbeatIntervalMs / HEARTBEAT_SLICES;
}

export interface RotationMember {
  /** Tick of the member's last write, kept by the owner of the rotation. */
  lastWriteTick: number;
  /** Bucket and place in it, kept by the rotation for O(1) removal; -1 when not in it. */
  rotationBucket: number;
  rotationIndex: number;
}

export class Rotation<T extends RotationMember> {
  /** One bucket per tick of an interval, plus the one being served. */
  readonly #buckets: T[][];
  readonly #ticksPerInterval: number;
  #tick = 0;
  #size = 0;
  /** Spreads first heartbeats of streams opened in the same tick over the interval. */
  #spread = 0;

  constructor(ticksPerInterval: number) {
    this.#ticksPerInterval = ticksPerInterval;
    this.#buckets = Array.from({ length: ticksPerInterval + 1 }, () => []);
  }

  /** Ticks so far: what members store as lastWriteTick when written to. */
  get tick(): number {
    return this.#tick;
  }

  get size(): number {
    return this.#size;
  }

  /** A new member, just written to; its first heartbeat comes within the interval. */
  add(member: T): void {
    member.lastWriteTick = this.#tick;
    this.#spread = (this.#spread % this.#ticksPerInterval) + 1;
    this.#place(member, this.#tick + this.#spread);
    this.#size++;
  }

  remove(member: T): void {
    if (member.rotationIndex < 0) return;
    this.#take(member);
    this.#size--;
  }

  /** The next tick: calls beat on each member quiet for an interval; beat must write to it. */
  advance(beat: (member: T) => void): void {
    this.#tick++;
    // Members never move into the bucket being served (there is one more bucket than ticks per
    // interval), and a member removed meanwhile leaves it by the same swap-remove.
    const bucket = this.#buckets[this.#tick % this.#buckets.length]!;
    for (let member = bucket.pop(); member; member = bucket.pop()) {
      const dueAt = member.lastWriteTick + this.#ticksPerInterval;
      const quiet = dueAt <= this.#tick;
      this.#place(member, quiet ? this.#tick + this.#ticksPerInterval : dueAt);
      if (quiet) beat(member);
    }
  }

  all(): T[] {
    return this.#buckets.flat();
  }

  #place(member: T, tick: number): void {
    const bucket = this.#buckets[tick % this.#buckets.length]!;
    member.rotationBucket = tick % this.#buckets.length;
    member.rotationIndex = bucket.length;
    bucket.push(member);
  }

  /** Swap-remove within the member's bucket: order inside a bucket does not matter. */
  #take(member: T): void {
    const bucket = this.#buckets[member.rotationBucket]!;
    const last = bucket.pop()!;
    if (last !== member) {
      bucket[member.rotationIndex] = last;
      last.rotationIndex = member.rotationIndex;
    }
    member.rotationIndex = -1;
  }
}
