import { parseEventId } from "../../events/event-id.ts";
import type { GatewayEvent } from "../../events/event.ts";

/**
 * How events look inside Redis. Channel names and types cannot hold control characters (see
 * channels.ts and the publish schema), so \x1f separates channels and \n the live message's
 * fields; the data JSON comes last and is never split.
 */
export const CHANNEL_SEPARATOR = "\x1f";

export function joinChannels(channels: readonly string[]): string {
  return channels.join(CHANNEL_SEPARATOR);
}

/** A live pub/sub message: "<id>\n<type>\n<channels>\n<data JSON>" (built by the publish script). */
export function decodeLiveMessage(message: string): GatewayEvent | undefined {
  const idEnd = message.indexOf("\n");
  const typeEnd = message.indexOf("\n", idEnd + 1);
  const channelsEnd = message.indexOf("\n", typeEnd + 1);
  if (idEnd < 0 || typeEnd < 0 || channelsEnd < 0) return undefined;
  return toEvent(
    message.slice(0, idEnd),
    message.slice(idEnd + 1, typeEnd),
    message.slice(typeEnd + 1, channelsEnd),
    message.slice(channelsEnd + 1),
  );
}

/** A history stream entry as XRANGE returns it: [id, [field, value, ...]] with fields t, d, c. */
export type StreamEntry = [string, string[]];

export function decodeStreamEntry([id, fields]: StreamEntry): GatewayEvent | undefined {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
  const type = values.get("t");
  const dataJson = values.get("d");
  const channels = values.get("c");
  if (type === undefined || dataJson === undefined || channels === undefined) return undefined;
  return toEvent(id, type, channels, dataJson);
}

function toEvent(id: string, type: string, channels: string, dataJson: string): GatewayEvent | undefined {
  const position = parseEventId(id);
  if (!position) return undefined;
  return { ...position, id, type, dataJson, channels: channels.split(CHANNEL_SEPARATOR) };
}
