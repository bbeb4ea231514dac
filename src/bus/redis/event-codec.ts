import { parseEventId, type EventPosition } from "../../events/event-id.ts";
import type { GatewayEvent } from "../../events/event.ts";

/**
 * How events look inside Redis. Channel names and types cannot hold control characters (see
 * channels.ts and the publish schema), so \x1f separates channels and \n the fields; the data
 * JSON comes last and is never split.
 *
 * - a stored event (under its id, once): "<type>\n<channels>\n<data JSON>";
 * - a live message: "<id>\n<stored event>" when the event has one recipient, or "<id>" alone,
 *   whose stored event the instance fetches once however many of its channels it was sent to.
 */
export const CHANNEL_SEPARATOR = "\x1f";

export function joinChannels(channels: readonly string[]): string {
  return channels.join(CHANNEL_SEPARATOR);
}

export type EventReference = EventPosition & { readonly id: string };

export type LiveMessage = { readonly event: GatewayEvent } | { readonly reference: EventReference };

export function decodeLiveMessage(message: string): LiveMessage | undefined {
  const idEnd = message.indexOf("\n");
  if (idEnd < 0) {
    const position = parseEventId(message);
    return position && { reference: { ...position, id: message } };
  }
  const event = decodeStoredEvent(message.slice(0, idEnd), message.slice(idEnd + 1));
  return event && { event };
}

export function decodeStoredEvent(id: string, stored: string): GatewayEvent | undefined {
  const position = parseEventId(id);
  const typeEnd = stored.indexOf("\n");
  const channelsEnd = stored.indexOf("\n", typeEnd + 1);
  if (!position || typeEnd < 0 || channelsEnd < 0) return undefined;
  return {
    ...position,
    id,
    type: stored.slice(0, typeEnd),
    channels: stored.slice(typeEnd + 1, channelsEnd).split(CHANNEL_SEPARATOR),
    dataJson: stored.slice(channelsEnd + 1),
  };
}
