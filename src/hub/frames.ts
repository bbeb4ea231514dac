import type { GatewayEvent } from "../events/event.ts";

/**
 * Server-Sent Events framing. Each event is serialised once into a Buffer that is then written
 * to every matching stream as is.
 *
 * Ids and types never contain line breaks (the publish schema forbids them), and the payload is
 * JSON.stringify output, which escapes CR and LF inside strings: one `data:` line always holds
 * the whole payload, whatever text it carries.
 */
export function eventFrame(event: GatewayEvent): Buffer {
  return Buffer.from(`id: ${event.id}\nevent: ${event.type}\ndata: ${event.dataJson}\n\n`);
}

/** A control event of the gateway's own (type prefix "gateway."), optionally with an id. */
export function controlFrame(type: string, data: unknown, id?: string): Buffer {
  const idLine = id === undefined ? "" : `id: ${id}\n`;
  return Buffer.from(`${idLine}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** An id with no data: moves the client's Last-Event-ID without dispatching an event. */
export function idFrame(id: string): Buffer {
  return Buffer.from(`id: ${id}\n\n`);
}

export function retryFrame(retryMs: number): Buffer {
  return Buffer.from(`retry: ${Math.round(retryMs)}\n\n`);
}

/** A comment line: ignored by EventSource, but it keeps proxies and load balancers from idling out. */
export const HEARTBEAT_FRAME = Buffer.from(":\n\n");
