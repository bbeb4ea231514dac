import { formatEventId, parseEventId, type EventPosition } from "../events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../events/event.ts";

/** What a Mercure publisher sends: the form fields of a publish. */
export interface MercureUpdate {
  /** The first is the canonical topic, the others alternates. */
  readonly topics: readonly string[];
  readonly data: string;
  readonly private: boolean;
  /** The publisher's id; the hub generates one when absent. */
  readonly id?: string;
  readonly type?: string;
  readonly retry?: number;
}

/** The bus event type of every Mercure update; /events streams never see them (their channels are Mercure's own). */
export const MERCURE_EVENT_TYPE = "mercure.update";
export const MERCURE_CHANNEL_PREFIX = "m:";

/** The channel of one topic: exact-topic subscriptions listen to it, and an update is sent to each of its topics' channels. */
export function mercureChannel(topic: string): string {
  return MERCURE_CHANNEL_PREFIX + topic;
}

/**
 * Ids the hub generates are fragments wrapping the gateway's own event id ("#<ms>-<seq>"):
 * opaque to clients, unique for the whole gateway, and a position to resume from without a lookup.
 * Publishers' ids must not start with "#", so the two never collide.
 */
export function generatedId(position: EventPosition): string {
  return `#${formatEventId(position)}`;
}

export function parseGeneratedId(id: string): EventPosition | undefined {
  return id.startsWith("#") ? parseEventId(id.slice(1)) : undefined;
}

export function updateDraft(update: MercureUpdate, idempotencyKey: string | undefined, fingerprint: string | undefined): EventDraft {
  return {
    type: MERCURE_EVENT_TYPE,
    dataJson: JSON.stringify(update),
    channels: [...new Set(update.topics)].map(mercureChannel),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    ...(fingerprint === undefined ? {} : { fingerprint }),
  };
}

/** A bus event seen as a Mercure update, with its SSE bytes built once for every stream. */
export interface DeliveredUpdate {
  readonly update: MercureUpdate;
  readonly frame: Buffer;
}

const decoded = new WeakMap<GatewayEvent, DeliveredUpdate | null>();

/** The update an event carries, or null for an event that is not a Mercure update (an /events event on the all-events channel). */
export function deliveredUpdate(event: GatewayEvent): DeliveredUpdate | null {
  let known = decoded.get(event);
  if (known === undefined) {
    known = isMercureUpdate(event) ? decode(event) : null;
    decoded.set(event, known);
  }
  return known;
}

/**
 * Only the hub's own publishes: POST /publish and the queues may send any type (also this one) but
 * only to users' and topics' channels, so an update is known by its Mercure channels, not its type.
 */
function isMercureUpdate(event: GatewayEvent): boolean {
  return event.type === MERCURE_EVENT_TYPE && event.channels.length > 0 && event.channels.every((channel) => channel.startsWith(MERCURE_CHANNEL_PREFIX));
}

function decode(event: GatewayEvent): DeliveredUpdate | null {
  let update: MercureUpdate;
  try {
    update = JSON.parse(event.dataJson) as MercureUpdate;
  } catch {
    return null;
  }
  if (!Array.isArray(update.topics) || typeof update.data !== "string") return null;
  return { update, frame: updateFrame(update.id ?? generatedId(event), update) };
}

/**
 * The SSE frame of an update: one `data:` line per line of the data (empty lines and leading
 * spaces kept: the parser strips exactly the one space written after the colon). Ids, types and
 * retries never hold line breaks (the publish form refuses them).
 */
export function updateFrame(id: string, update: MercureUpdate): Buffer {
  let frame = `id: ${id}\n`;
  if (update.type !== undefined) frame += `event: ${update.type}\n`;
  if (update.retry !== undefined) frame += `retry: ${update.retry}\n`;
  for (const line of update.data.split(/\r\n|\r|\n/)) frame += `data: ${line}\n`;
  return Buffer.from(`${frame}\n`);
}
