import { Agent, request } from "node:http";
import { sendAtRate, type EventSource, type PublishRun } from "./publisher.ts";

/**
 * Publishes one event to many users per request (POST /publish with `users` of every user of the
 * run): the "one event to many" scenario, where one publish fans out to each user's stream.
 */
export class ManyUsersPublisher implements EventSource {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 8 });
  readonly #port: number;
  readonly #token: string;
  readonly #users: string;

  constructor(port: number, publisherToken: string, userCount: number) {
    this.#port = port;
    this.#token = publisherToken;
    this.#users = JSON.stringify(Array.from({ length: userCount }, (_, index) => `u${index}`));
  }

  run(ratePerSecond: number, durationMs: number): Promise<PublishRun> {
    return sendAtRate(ratePerSecond, durationMs, (_, data) => this.#publish(`{"users":${this.#users},"type":"bench","data":${data}}`));
  }

  #publish(body: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const headers = { "content-type": "application/json", authorization: `Bearer ${this.#token}`, "content-length": Buffer.byteLength(body) };
      const req = request({ host: "127.0.0.1", port: this.#port, method: "POST", path: "/publish", agent: this.#agent, headers }, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on("end", () => resolve(status === 202 ? undefined : `HTTP ${status}`));
      });
      req.on("error", (error) => resolve(error.message));
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
