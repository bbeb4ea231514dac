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

/** Where events are published: over HTTP to a server, or through a queue the server consumes. */
export interface EventSource {
  run(ratePerSecond: number, durationMs: number, targetOf: (sequence: number) => Target): Promise<PublishRun>;
  close(): void | Promise<void>;
}

/**
 * Sends `rate` events per second for `durationMs`: `send` gets each event's sequence number and
 * the payload carrying the monotonic time at which it was due, so that queueing in the sender
 * counts in the measured latency too. `send` resolves undefined once accepted, else with why not.
 */
export async function sendAtRate(ratePerSecond: number, durationMs: number, send: (sequence: number, data: string) => Promise<string | undefined>): Promise<PublishRun> {
  const total = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
  const startedAtMs = monotonicMs();
  const answers: Promise<string | undefined>[] = [];
  while (answers.length < total) {
    const due = Math.min(total, Math.floor(((monotonicMs() - startedAtMs) * ratePerSecond) / 1000) + 1);
    while (answers.length < due) {
      const dueAt = startedAtMs + (answers.length * 1000) / ratePerSecond;
      answers.push(send(answers.length, payload(dueAt, PADDING)));
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

/** Publishes with the server's own HTTP publish request. */
export class Publisher implements EventSource {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  readonly #kind: ServerKind;
  readonly #port: number;
  readonly #token: string;

  constructor(kind: ServerKind, port: number, publisherToken: string) {
    this.#kind = kind;
    this.#port = port;
    this.#token = publisherToken;
  }

  run(ratePerSecond: number, durationMs: number, targetOf: (sequence: number) => Target): Promise<PublishRun> {
    return sendAtRate(ratePerSecond, durationMs, (sequence, data) => this.publishOne(targetOf(sequence), data));
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
