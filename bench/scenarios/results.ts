import type { ServerKind } from "../servers/protocol.ts";

/** Figures of one server at one idle level (scenario A). */
export interface IdleFigures {
  readonly streams: number;
  readonly failed: number;
  /** Memory (PSS) added per stream since the server started, in bytes. */
  readonly bytesPerStream: number;
  /** Server CPU time spent opening streams, in ms per 1000 streams. */
  readonly openCpuMsPer1k: number;
}

/** Figures of one server at one publish rate (scenarios B and C). */
export interface RateFigures {
  readonly rate: number;
  readonly offeredDeliveriesPerSecond: number;
  readonly deliveriesPerSecond: number;
  /** Received deliveries over the deliveries of the events the server accepted. */
  readonly deliveredShare: number;
  readonly rejectedPublishes: number;
  readonly serverCpuPercent: number;
  /** Time the server was ready to run but waited for a CPU (other programs on the machine). */
  readonly serverCpuWaitPercent: number;
  readonly loadCpuPercent: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly saturated: boolean;
}

export type RateScenario = "broadcast" | "per-user";

/** Everything one repetition measured for one server. */
export interface ServerRun {
  readonly kind: ServerKind;
  readonly idle: IdleFigures[];
  readonly rates: Record<RateScenario, RateFigures[]>;
}
