/** What one benchmark run does: sizes, rates and repetitions of each scenario. */
export interface BenchPlan {
  readonly mode: "quick" | "full";
  readonly repetitions: number;
  /** Scenario A: idle streams held, measured at each of these counts in turn. */
  readonly idleLevels: readonly number[];
  /** Scenario B: streams on the one broadcast topic, and the publish rates tried (events/s). */
  readonly broadcastStreams: number;
  readonly broadcastRates: readonly number[];
  /** Scenario C: streams of distinct users, and the rates of events to random users. */
  readonly userStreams: number;
  readonly userRates: readonly number[];
  /** How long each rate is held. */
  readonly rateDurationMs: number;
  /** Scenario D: streams spread over two gateways sharing Redis, and the broadcast rates tried. */
  readonly clusterStreams: number;
  readonly clusterRates: readonly number[];
  /** Scenario D, one event to many users: how many (1,000 is the most one publish names), and the publish rates tried. */
  readonly manyUsers: number;
  readonly manyUsersRates: readonly number[];
}

export const QUICK_PLAN: BenchPlan = {
  mode: "quick",
  repetitions: 1,
  idleLevels: [5_000, 15_000],
  broadcastStreams: 10_000,
  broadcastRates: [1, 3, 6],
  userStreams: 10_000,
  userRates: [500, 2_000, 5_000],
  rateDurationMs: 2_000,
  clusterStreams: 4_000,
  clusterRates: [1, 5],
  manyUsers: 1_000,
  manyUsersRates: [1, 5, 20],
};

export const FULL_PLAN: BenchPlan = {
  mode: "full",
  repetitions: 3,
  idleLevels: [5_000, 15_000],
  broadcastStreams: 10_000,
  broadcastRates: [1, 2, 4, 6, 8, 12, 16],
  userStreams: 10_000,
  userRates: [250, 500, 1_000, 2_000, 4_000, 6_000, 8_000],
  rateDurationMs: 8_000,
  clusterStreams: 10_000,
  clusterRates: [1, 2, 4, 6, 8],
  manyUsers: 1_000,
  manyUsersRates: [1, 2, 5, 10, 20, 40],
};

/** A rate step counts as saturated when deliveries/s fell below this share of the offered deliveries/s... */
export const SATURATION_DELIVERED_SHARE = 0.9;
/** ...or when its p99 latency passed this bound: higher rates would only queue more. */
export const SATURATION_P99_MS = 2_000;
