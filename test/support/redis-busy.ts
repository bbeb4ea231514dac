import { Redis } from "ioredis";

/** A script that spins for `ms` on Redis's own clock. */
const SPIN = `
local function now() local t = redis.call('TIME') return t[1] * 1000000 + t[2] end
local start = now()
while now() - start < tonumber(ARGV[1]) * 1000 do end
return 1`;

/**
 * Makes a real Redis busy: a script runs for `ms`, and after a 20 ms threshold every other client
 * gets BUSY. Resolves once Redis answers BUSY (however late the script started on a loaded
 * machine); `finished` waits for the script and puts the threshold back.
 */
export async function keepRedisBusy(url: string, ms: number): Promise<{ finished(): Promise<void> }> {
  const spinner = new Redis(url);
  const probe = new Redis(url);
  await probe.config("SET", "busy-reply-threshold", "20");
  const spinning = spinner.eval(SPIN, 0, ms);
  const deadline = Date.now() + ms;
  while (!(await probe.ping().then(() => false, (error: Error) => error.message.startsWith("BUSY")))) {
    if (Date.now() > deadline) throw new Error("Redis never became busy");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return {
    async finished() {
      await spinning;
      await probe.config("SET", "busy-reply-threshold", "5000");
      spinner.disconnect();
      probe.disconnect();
    },
  };
}
