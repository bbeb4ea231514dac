import { Agent, request } from "node:http";
import { monotonicMs, sleep } from "../lib/clock.ts";
import { publishRequest, type ServerKind, type Target } from "../servers/protocol.ts";
import { payload } from "./worker-protocol.ts";

export interface PublishRun {
  readonly attempted: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly firstRejection?: string;
  readonly startedAtMs: number;
  /** When the last publish request was answered. */
  readonly finishedAtMs: number;
}

/** How often the send loop wakes up; events due in between go out together. */
const TICK_MS = 2;
/** Publish requests in flight at most; more wait in the agent's queue (their latency counts). */
const MAX_SOCKETS = 32;
/** Makes each event about 100 bytes on the wire, like a small real notification. */
const PADDING = "x".repeat(48);

/**
 * Publishes at a fixed rate for a fixed time. Each payload carries the monotonic time at which
 * the event was due, so queueing in the publisher counts in the measured latency too.
 */
export class Publisher {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  readonly #kind: ServerKind;
  readonly #port: number;
  readonly #token: string;

  constructor(kind: ServerKind, port: number, publisherToken: string) {
    this.#kind = kind;
    this.#port = port;
    this.#token = publisherToken;
  }

  async run(ratePerSecond: number, durationMs: number, targetOf: (sequence: number) => Target): Promise<PublishRun> {
    const total = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
    const startedAtMs = monotonicMs();
    const answers: Promise<string | undefined>[] = [];
    while (answers.length < total) {
      const due = Math.min(total, Math.floor(((monotonicMs() - startedAtMs) * ratePerSecond) / 1000) + 1);
      while (answers.length < due) {
        const dueAt = startedAtMs + (answers.length * 1000) / ratePerSecond;
        answers.push(this.publishOne(targetOf(answers.length), payload(dueAt, PADDING)));
      }
      await sleep(TICK_MS);
    }
    const outcomes = await Promise.all(answers);
    const rejections = outcomes.filter((outcome) => outcome !== undefined);
    return {
      attempted: total,
      accepted: total - rejections.length,
      rejected: rejections.length,
      ...(rejections[0] === undefined ? {} : { firstRejection: rejections[0] }),
      startedAtMs,
      finishedAtMs: monotonicMs(),
    };
  }

  /** Resolves undefined when the server accepted the event, else with why not. */
  publishOne(target: Target, data: string): Promise<string | undefined> {
    const { path, headers, body } = publishRequest(this.#kind, target, data, this.#token);
    return new Promise((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: this.#port, method: "POST", path, agent: this.#agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
        (res) => {
          const status = res.statusCode ?? 0;
          res.resume();
          res.on("end", () => resolve(status >= 200 && status < 300 ? undefined : `HTTP ${status}`));
        },
      );
      req.on("error", (error) => resolve(error.message));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
