/**
 * Visits every member once per period, a small slice per tick, from one timer. Writing a heartbeat
 * to 10k sockets in one tick stalls the event loop for hundreds of ms; slices of a few hundred do not.
 */
export interface RotationMember {
  rotationIndex: number;
}

export class Rotation<T extends RotationMember> {
  readonly #members: T[] = [];
  #cursor = 0;

  get size(): number {
    return this.#members.length;
  }

  add(member: T): void {
    member.rotationIndex = this.#members.length;
    this.#members.push(member);
  }

  /** Swap-remove: the last member takes the freed slot. */
  remove(member: T): void {
    const index = member.rotationIndex;
    if (index < 0) return;
    const last = this.#members.pop()!;
    if (last !== member) {
      this.#members[index] = last;
      last.rotationIndex = index;
    }
    member.rotationIndex = -1;
  }

  /** Calls visit on the next ceil(size / slices) members. */
  advance(slices: number, visit: (member: T) => void): void {
    const count = Math.ceil(this.#members.length / slices);
    for (let i = 0; i < count && this.#members.length > 0; i++) {
      if (this.#cursor >= this.#members.length) this.#cursor = 0;
      visit(this.#members[this.#cursor++]!);
    }
  }

  all(): readonly T[] {
    return this.#members;
  }
}
