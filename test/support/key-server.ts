import http from "node:http";
import type { AddressInfo } from "node:net";

/** A real HTTP server standing in for an identity provider's JSON Web Key Set (JWKS_URL). */
export interface KeyServer {
  readonly url: string;
  /** Requests it has received. */
  fetches: number;
  /** serve the keys; fail with 502; hang without answering; refuse (reset the connection). */
  mode: "serve" | "fail" | "hang" | "refuse";
  /** The keys it serves; may be replaced. */
  keys: object[];
  close(): Promise<void>;
}

export async function startKeyServer(keys: object[]): Promise<KeyServer> {
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((_request, response) => {
    state.fetches++;
    if (state.mode === "hang") return void hanging.add(response);
    if (state.mode === "fail") return void response.writeHead(502).end("bad gateway");
    if (state.mode === "refuse") return void response.socket?.destroy();
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const state: KeyServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    fetches: 0,
    mode: "serve",
    keys,
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return state;
}
