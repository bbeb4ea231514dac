import { isAfter } from "./event-ids.ts";
import { openStream, type Status, type StreamEvent, type StreamSetup } from "./stream.ts";

/** What a shared stream tells the tabs it serves: an event, or its status. */
export type RelayMessage = { readonly e: StreamEvent } | { readonly s: Status; readonly r?: string | undefined };

/** Recent events kept for tabs that join late or come back from a reload. */
const KEPT_EVENTS = 256;

/**
 * One stream shared by several tabs (in a SharedWorker or a leader tab). It keeps the last
 * events so that a tab joining with an older last id gets what it missed, and tells a tab whose
 * last id is older than anything kept to refetch, as the gateway does for a history gap.
 */
export class Relay {
  readonly stop: () => void;
  status: Status = "connecting";
  #reason: string | undefined;
  readonly #kept: StreamEvent[] = [];
  /** Every event after this id is kept ("" until the first event of a stream that started live). */
  #keptAfter: string;

  constructor(setup: StreamSetup, fanOut: (message: RelayMessage) => void) {
    this.#keptAfter = setup.lastEventId;
    this.stop = openStream(setup, {
      event: (event) => {
        if (event.id) {
          this.#keptAfter ||= event.id;
          if (this.#kept.push(event) > KEPT_EVENTS) this.#keptAfter = this.#kept.shift()!.id;
        }
        fanOut({ e: event });
      },
      status: (status, reason) => {
        this.status = status;
        this.#reason = reason;
        fanOut({ s: status, r: reason });
      },
    });
  }

  /** What a tab that has every event up to `lastEventId` needs to be level with the others. */
  catchUp(lastEventId: string): RelayMessage[] {
    const messages: RelayMessage[] = [{ s: this.status, r: this.#reason }];
    if (!lastEventId) return messages;
    if (this.#keptAfter && !isAfter(this.#keptAfter, lastEventId)) {
      return [...messages, ...this.#kept.filter((event) => isAfter(event.id, lastEventId)).map((e) => ({ e }))];
    }
    return [...messages, { e: { id: "", type: "gateway.refetch", data: { reason: "history-gap" } } }];
  }
}
