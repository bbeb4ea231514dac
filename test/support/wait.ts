/** Polls until the check returns a value other than undefined/false; rejects after timeoutMs. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** GET /readyz: status and body. */
export async function readyz(url: string): Promise<{ status: number; body: { ready: boolean; failing: { name: string; reason: string }[] } }> {
  const response = await fetch(new URL("/readyz", url));
  return { status: response.status, body: (await response.json()) as never };
}
