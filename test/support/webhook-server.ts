import http from "node:http";
import type { AddressInfo } from "node:net";

/** What the test's webhook answers one call: a status and a body (JSON unless a string), after a delay. */
export interface WebhookAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly delayMs?: number;
}

export interface WebhookServer {
  readonly url: string;
  /** The JSON bodies the gateway sent, in order. */
  readonly calls: unknown[];
  /** Sets how the next calls are answered. */
  answer(handler: (body: any) => WebhookAnswer): void;
  stop(): Promise<void>;
}

/** A real HTTP server standing in for the application's authorizer webhook. */
export async function startWebhook(handler: (body: any) => WebhookAnswer): Promise<WebhookServer> {
  let current = handler;
  const calls: unknown[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((request, response) => {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (text += chunk));
    request.on("end", () => {
      const body = JSON.parse(text);
      calls.push(body);
      const { status, body: answer, delayMs = 0 } = current(body);
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (response.destroyed) return;
        response.writeHead(status, { "content-type": "application/json" });
        response.end(typeof answer === "string" ? answer : JSON.stringify(answer ?? {}));
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/authorize`,
    calls,
    answer(next) {
      current = next;
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
