import http from "node:http";
import type { AddressInfo } from "node:net";

/** Answers one request, whose body has been read whole; `later` delays an answer (skipped if the client left). */
export type StandInHandler = (
  request: http.IncomingMessage,
  body: string,
  response: http.ServerResponse,
  later: (delayMs: number, answer: () => void) => void,
) => void;

export interface StandInServer {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** Cancels the answers still waiting and closes every connection. */
  stop(): Promise<void>;
}

/** A loopback HTTP server standing in for a remote service a test cannot reach (a webhook, AWS). */
export async function startStandInServer(onRequest: StandInHandler): Promise<StandInServer> {
  const timers = new Set<NodeJS.Timeout>();
  const later = (response: http.ServerResponse) => (delayMs: number, answer: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!response.destroyed) answer();
    }, delayMs);
    timers.add(timer);
  };
  const server = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (body += chunk));
    request.on("end", () => onRequest(request, body, response, later(response)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
