/**
 * Milliseconds on CLOCK_MONOTONIC, which every process on the machine shares: a publisher
 * stamps it into the payload and a load client in another process subtracts it on receipt.
 * (Date.now() can step, and performance.now() starts at each process's own origin.)
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
