import type { ServerKind } from "../servers/protocol.ts";

/** Messages between the load fleet (parent) and one load worker (child process). */
export type WorkerCommand =
  | {
      readonly type: "open";
      readonly kind: ServerKind;
      readonly port: number;
      readonly secret: string;
      /** Streams `from`..`from + count - 1`; in "user" mode stream i follows user `u<i>`. */
      readonly from: number;
      readonly count: number;
      readonly mode: "topic" | "user";
      readonly topic: string;
    }
  | { readonly type: "reset" }
  | { readonly type: "report" }
  | { readonly type: "close"; readonly count: number };

export type WorkerReply =
  | { readonly type: "opened"; readonly open: number; readonly failed: number; readonly firstError?: string }
  | {
      readonly type: "report";
      readonly open: number;
      readonly deliveries: number;
      readonly latencyCounts: number[];
      readonly lastReceiptMs: number;
      readonly cpuSeconds: number;
    }
  | { readonly type: "state"; readonly open: number };

export interface Envelope<T> {
  readonly id: number;
  readonly body: T;
}

/** The payload the publisher sends: its monotonic send time lets receivers compute latency. */
export function payload(sentAtMs: number, padding: string): string {
  return `{"t":${sentAtMs.toFixed(3)},"pad":"${padding}"}`;
}

export function sentAtOf(data: string): number {
  const at = data.indexOf('"t":');
  return at < 0 ? Number.NaN : Number.parseFloat(data.slice(at + 4, at + 24));
}
