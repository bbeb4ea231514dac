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

  /**
   * Remembers a publisher's key for the idempotency window; the value is "<event id>\n<fingerprint>",
   * so a repeat with other content is told apart from a retry.
   */
  idempotency(key: string): string {
    return `${this.prefix}idem:${key}`;
  }

  /**
   * Where each event is stored, once: "<type>\n<channels joined by \x1f>\n<data JSON>" under
   * this prefix followed by the event id, expiring with the history age. Built inside the publish
   * script, which issues the id.
   */
  get eventPrefix(): string {
    return `${this.prefix}event:`;
  }

  /**
   * The history of one channel: a Redis Stream of event ids only (each entry's id is the event
   * id, its one field empty). The history of ALL_EVENTS_CHANNEL is the global log of every event.
   */
  history(channel: string): string {
    return `${this.prefix}ids:${channel}`;
  }

  /** The newest id the publish script cut from a channel's history: a reader behind it has a gap. */
  trimmed(channel: string): string {
    return `${this.prefix}trimmed:${channel}`;
  }

  /** The pub/sub channel that carries one channel's live events. */
  live(channel: string): string {
    return `${this.prefix}live:${channel}`;
  }

  /** The list back ends LPUSH publish bodies to. */
  get inbox(): string {
    return `${this.prefix}inbox`;
  }

  /** Entries one instance has taken from the inbox and not yet settled. */
  inboxProcessing(instanceId: string): string {
    return `${this.prefix}inbox:processing:${instanceId}`;
  }

  /**
   * The registry of instances consuming the inbox: a sorted set of instance ids scored by their
   * last heartbeat (Redis's clock). A stale score means the instance died: its processing list
   * goes back to the inbox, found without scanning the keyspace.
   */
  get inboxInstances(): string {
    return `${this.prefix}inbox:instances`;
  }

  /** Entries that can never be published, kept as they came for a person to look at. */
  get inboxDead(): string {
    return `${this.prefix}inbox:dead`;
  }

  /**
   * The registry of instances holding Mercure subscriptions: a sorted set of instance ids scored
   * by their last heartbeat (Redis's clock). Only instances within their lease are listed.
   */
  get mercureInstances(): string {
    return `${this.prefix}mercure:instances`;
  }

  /**
   * One instance's active Mercure subscriptions: a hash from the subscription's key (the JSON of
   * [topic, subscriber]) to its payload's JSON ("" for none), expiring with the instance's lease.
   */
  mercureSubscriptions(instanceId: string): string {
    return `${this.prefix}mercure:subscriptions:${instanceId}`;
  }

  /** A dead instance's subscriptions, claimed by one live instance that announces their end, then deletes them. */
  mercureEnded(instanceId: string): string {
    return `${this.prefix}mercure:ended:${instanceId}`;
  }
}
