import { Agent, request } from "node:http";
import type { Target } from "../servers/protocol.ts";
import { sendAtRate, type EventSource, type PublishRun } from "./publisher.ts";

/** Events in one POST /publish/batch at most (the gateway's MAX_BATCH_EVENTS). */
const MAX_BATCH = 100;
const MAX_SOCKETS = 8;

interface Pending {
  readonly target: Target;
  readonly data: string;
  readonly settle: (outcome: string | undefined) => void;
}

/**
 * Publishes to the gateway with POST /publish/batch: the events that fall due together (one send
 * tick) go out in one request, up to MAX_BATCH, each to its own recipient.
 */
export class BatchPublisher implements EventSource {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  readonly #port: number;
  readonly #token: string;
  #pending: Pending[] = [];
  #flushScheduled = false;

  constructor(port: number, publisherToken: string) {
    this.#port = port;
    this.#token = publisherToken;
  }

  run(ratePerSecond: number, durationMs: number, targetOf: (sequence: number) => Target): Promise<PublishRun> {
    return sendAtRate(ratePerSecond, durationMs, (sequence, data) => this.#enqueue(targetOf(sequence), data));
  }

  #enqueue(target: Target, data: string): Promise<string | undefined> {
    return new Promise((settle) => {
      this.#pending.push({ target, data, settle });
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    while (this.#pending.length > 0) this.#post(this.#pending.splice(0, MAX_BATCH));
  }

  #post(batch: readonly Pending[]): void {
    const events = batch.map(({ target, data }) => {
      const recipients = "topic" in target ? `"topics":${JSON.stringify([target.topic])}` : `"users":${JSON.stringify([target.user])}`;
      return `{${recipients},"type":"bench","data":${data}}`;
    });
    const body = `{"events":[${events.join(",")}]}`;
    const settleAll = (outcome: string | undefined) => batch.forEach((event) => event.settle(outcome));
    const req = request(
      {
        host: "127.0.0.1",
        port: this.#port,
        method: "POST",
        path: "/publish/batch",
        agent: this.#agent,
        headers: { "content-type": "application/json", authorization: `Bearer ${this.#token}`, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on("end", () => settleAll(status === 202 ? undefined : `HTTP ${status}`));
      },
    );
    req.on("error", (error) => settleAll(error.message));
    req.end(body);
  }

  close(): void {
    this.#agent.destroy();
  }
}

