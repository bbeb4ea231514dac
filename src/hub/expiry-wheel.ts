/** Members due at a given second, found by one timer instead of a timer per member. */
export class ExpiryWheel<T> {
  readonly #due = new Map<number, Set<T>>();
  readonly #secondOf = new Map<T, number>();
  #checkedThrough: number;

  constructor(nowSeconds: number) {
    this.#checkedThrough = Math.floor(nowSeconds);
  }

  add(member: T, atSeconds: number): void {
    const second = Math.max(Math.ceil(atSeconds), this.#checkedThrough + 1);
    let bucket = this.#due.get(second);
    if (!bucket) this.#due.set(second, (bucket = new Set()));
    bucket.add(member);
    this.#secondOf.set(member, second);
  }

  remove(member: T): void {
    const second = this.#secondOf.get(member);
    if (second === undefined) return;
    this.#secondOf.delete(member);
    const bucket = this.#due.get(second);
    bucket?.delete(member);
    // An empty second costs a map entry until it comes, which may be days away with long tokens.
    if (bucket?.size === 0) this.#due.delete(second);
  }

  /** Seconds that still hold a member: for tests that check nothing empty is kept. */
  get pendingSeconds(): number {
    return this.#due.size;
  }

  /** Takes every member due up to and including nowSeconds. */
  takeDue(nowSeconds: number): T[] {
    const due: T[] = [];
    const through = Math.floor(nowSeconds);
    for (let second = this.#checkedThrough + 1; second <= through; second++) {
      const bucket = this.#due.get(second);
      if (!bucket) continue;
      this.#due.delete(second);
      for (const member of bucket) {
        this.#secondOf.delete(member);
        due.push(member);
      }
    }
    this.#checkedThrough = Math.max(this.#checkedThrough, through);
    return due;
  }
}
