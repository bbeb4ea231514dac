import { BusUnavailableError, type BusListener, type EventBus, type HistoryPage, type PageLimits, type PublishResult } from "../../src/bus/event-bus.ts";
import type { EventPosition } from "../../src/events/event-id.ts";
import type { EventDraft, GatewayEvent } from "../../src/events/event.ts";
import type { Health } from "../../src/health.ts";
import type { BusFaults, Heal } from "./bus-conformance.ts";

type Mode = { readonly kind: "healthy" } | { readonly kind: "failing"; readonly why: string } | { readonly kind: "stalled"; readonly until: number };

/** How long a stalled call waits before it fails, like a client's command timeout. */
const COMMAND_TIMEOUT_MS = 300;
/** How long the live connection stays away after it dropped. */
const RECONNECT_MS = 50;

/**
 * Puts the faults of a networked backend in front of a bus that has none (the memory bus): calls
 * refused, calls that time out, live delivery cut and restored with a resync, just as the Redis
 * bus reports them. Used by the conformance suite only.
 */
export class FaultyBus implements EventBus, BusFaults {
  readonly #inner: EventBus;
  #mode: Mode = { kind: "healthy" };
  #liveCut = false;
  #listener?: BusListener;

  constructor(inner: EventBus) {
    this.#inner = inner;
  }

  attach(listener: BusListener): void {
    this.#listener = listener;
    this.#inner.attach({
      deliver: (event: GatewayEvent) => {
        if (!this.#liveCut) listener.deliver(event);
      },
      resync: (channels?: readonly string[]) => listener.resync(channels),
    });
  }

  publish(draft: EventDraft): Promise<PublishResult> {
    return this.#call(() => this.#inner.publish(draft));
  }

  readPage(channels: readonly string[], after: EventPosition, limits: PageLimits): Promise<HistoryPage> {
    return this.#call(() => this.#inner.readPage(channels, after, limits));
  }

  head(): Promise<EventPosition> {
    return this.#call(() => this.#inner.head());
  }

  findByIdempotencyKey(idempotencyKey: string): Promise<string | undefined> {
    return this.#call(() => this.#inner.findByIdempotencyKey(idempotencyKey));
  }

  watch(channel: string): Promise<void> {
    return this.#call(() => this.#inner.watch(channel));
  }

  unwatch(channel: string): void {
    this.#inner.unwatch(channel);
  }

  health(): Health {
    if (this.#mode.kind === "healthy" && !this.#liveCut) return this.#inner.health();
    return { ready: false, reason: `injected fault: ${this.#mode.kind}` };
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async failCommands(): Promise<Heal> {
    this.#mode = { kind: "failing", why: "injected: the backend refuses commands" };
    return async () => void (this.#mode = { kind: "healthy" });
  }

  async stallCommands(ms: number): Promise<void> {
    this.#mode = { kind: "stalled", until: Date.now() + ms };
    setTimeout(() => (this.#mode = { kind: "healthy" }), ms).unref();
  }

  async saturate(): Promise<Heal> {
    this.#mode = { kind: "failing", why: "injected: too many commands are waiting" };
    return async () => void (this.#mode = { kind: "healthy" });
  }

  async dropLive(): Promise<void> {
    this.#liveCut = true;
    setTimeout(() => {
      this.#liveCut = false;
      this.#listener?.resync();
    }, RECONNECT_MS).unref();
  }

  async #call<T>(run: () => Promise<T>): Promise<T> {
    const mode = this.#mode;
    if (mode.kind === "failing") throw new BusUnavailableError(mode.why);
    if (mode.kind === "stalled") {
      await new Promise((resolve) => setTimeout(resolve, Math.min(COMMAND_TIMEOUT_MS, mode.until - Date.now())));
      throw new BusUnavailableError("injected: the command timed out");
    }
    return run();
  }
}
