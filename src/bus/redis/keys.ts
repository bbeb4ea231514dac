/**
 * Every name the gateway uses in Redis, under one prefix (REDIS_KEY_PREFIX, "sse:" by default).
 * One primary holds them all (cluster mode off): a publish touches the id, the idempotency key and
 * every recipient's history in one script, which a cluster would only allow within one hash slot.
 */
export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** The newest event id issued, "<ms>-<seq>". */
  get lastId(): string {
    return `${this.prefix}last-id`;
  }

  /** The first id of this Redis data set: positions before it were never held here. */
  get epoch(): string {
    return `${this.prefix}epoch`;
  }

  /** Remembers a publisher's event id (the value is the event id it got) for the idempotency window. */
  idempotency(key: string): string {
    return `${this.prefix}idem:${key}`;
  }

  /** The history of one channel: a Redis Stream whose entry ids are the event ids. */
  history(channel: string): string {
    return `${this.prefix}history:${channel}`;
  }

  /** The pub/sub channel that carries one channel's live events. */
  live(channel: string): string {
    return `${this.prefix}live:${channel}`;
  }

  get liveChannelPrefix(): string {
    return `${this.prefix}live:`;
  }

  /** The list back ends LPUSH publish bodies to. */
  get inbox(): string {
    return `${this.prefix}inbox`;
  }

  /** Entries one instance has taken from the inbox and not yet settled. */
  inboxProcessing(instanceId: string): string {
    return `${this.prefix}inbox:processing:${instanceId}`;
  }

  get inboxProcessingPattern(): string {
    return `${this.prefix}inbox:processing:*`;
  }

  /** Present while the instance lives; without it, its processing list goes back to the inbox. */
  inboxAlive(instanceId: string): string {
    return `${this.prefix}inbox:alive:${instanceId}`;
  }

  /** Entries that can never be published, kept as they came for a person to look at. */
  get inboxDead(): string {
    return `${this.prefix}inbox:dead`;
  }
}
