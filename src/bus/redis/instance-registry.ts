import type { RedisLink } from "./redis-link.ts";

/** Redis's clock in ms, as `now`: instances' own clocks never have to agree. */
export const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: the registry (a sorted set of instance ids scored by their last heartbeat), then keys
 * that live as long as the instance beats. ARGV: this instance, the lease in ms, those keys' time
 * to live in ms. Returns 1 when the instance was dead to the others until now: its first
 * heartbeat, or the first after a silence longer than the lease (whether or not the others took
 * it out of the registry meanwhile); else 0.
 */
const HEARTBEAT_SCRIPT = `${NOW_MS}
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[1], now, ARGV[1])
if last and tonumber(last) >= now - tonumber(ARGV[2]) then return 0 end
return 1
`;

/** KEYS: the registry. ARGV: the lease in ms, most ids. The instances whose last heartbeat is within the lease. */
const LIVE_SCRIPT = `#!lua flags=no-writes
${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
`;

type Script = (...args: (string | number)[]) => Promise<unknown>;

export interface HeartbeatOptions {
  /** The registry's sorted set. */
  readonly registry: string;
  readonly instanceId: string;
  readonly intervalMs: number;
  /** How long a heartbeat counts: an instance silent for longer is dead to the others. */
  readonly leaseMs: number;
  /** Keys of this instance that expire unless renewed by its heartbeats, and their time to live. */
  readonly leasedKeys?: { readonly keys: readonly string[]; readonly ttlMs: number };
  /** The heartbeat found this instance dead to the others until now (first start, or back after a silence longer than the lease). */
  readonly onRegistered?: () => void;
}

/**
 * An instance's place in a registry of instances on Redis: a heartbeat every interval on Redis's
 * clock (and at once whenever the connection comes back). An instance that dies stops beating,
 * and the others see its score age past the lease.
 */
export class InstanceHeartbeat {
  readonly #link: RedisLink;
  readonly #options: HeartbeatOptions;
  readonly #scripts: Record<"gatewayHeartbeat" | "gatewayLiveInstances", Script>;
  #timer?: NodeJS.Timeout;

  constructor(link: RedisLink, options: HeartbeatOptions) {
    this.#link = link;
    this.#options = options;
    link.client.defineCommand("gatewayHeartbeat", { lua: HEARTBEAT_SCRIPT });
    link.client.defineCommand("gatewayLiveInstances", { numberOfKeys: 1, lua: LIVE_SCRIPT });
    this.#scripts = link.client as unknown as Record<"gatewayHeartbeat" | "gatewayLiveInstances", Script>;
  }

  start(): void {
    this.#timer = setInterval(() => void this.beat(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The instances of the registry whose last heartbeat is within the lease, at most `max`. Rejects as the link's commands do. */
  liveInstances(max: number): Promise<string[]> {
    return this.#scripts.gatewayLiveInstances(this.#options.registry, this.#options.leaseMs, max) as Promise<string[]>;
  }

  /** Never rejects: a missed heartbeat is made up by the next one, well within the lease. */
  async beat(): Promise<void> {
    if (!this.#link.ready) return;
    const { registry, instanceId, leaseMs, leasedKeys = { keys: [], ttlMs: 0 } } = this.#options;
    try {
      const added = await this.#scripts.gatewayHeartbeat(1 + leasedKeys.keys.length, registry, ...leasedKeys.keys, instanceId, leaseMs, leasedKeys.ttlMs);
      if (added === 1) this.#options.onRegistered?.();
    } catch {
      // The next beat tries again; the link logs the connection's failures.
    }
  }
}
