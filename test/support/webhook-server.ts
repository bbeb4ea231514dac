import { startStandInServer } from "./stand-in-server.ts";

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
  const server = await startStandInServer((_request, text, response, later) => {
    const body = JSON.parse(text);
    calls.push(body);
    const { status, body: answer, delayMs = 0 } = current(body);
    later(delayMs, () => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(typeof answer === "string" ? answer : JSON.stringify(answer ?? {}));
    });
  });
  return {
    url: `${server.origin}/authorize`,
    calls,
    answer(next) {
      current = next;
    },
    stop: () => server.stop(),
  };
}
