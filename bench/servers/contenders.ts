import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { findNchan, NCHAN_INSTALL_HINT, startNchan } from "./nchan.ts";
import { signGatewayToken, type ServerKind } from "./protocol.ts";
import { freePort, startServerProcess, type RunningServer } from "./server-process.ts";

/** The servers compared, each started fresh for every scenario repetition. */
export interface Contender {
  readonly kind: ServerKind;
  /** Why this server cannot run here (and how to fix it), or undefined when it can. */
  readonly unavailable: string | undefined;
  /** The HS256 secret load workers sign stream tokens with (the gateway's only). */
  readonly secret: string;
  start(): Promise<RunningServer>;
  publisherToken(): Promise<string>;
}

const GATEWAY_MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const BARE_SERVER = fileURLToPath(new URL("./bare-sse-server.ts", import.meta.url));
const FASTIFY_SERVER = fileURLToPath(new URL("./fastify-sse-server.ts", import.meta.url));
export const HEARTBEAT_INTERVAL_MS = 15_000;
/** Room for every benchmark stream: the limits are not what is measured. */
const CONNECTION_LIMIT = 19_000;

/** Starts `node src/main.ts` as the benchmark runs it; `env` adds settings such as REDIS_URL. */
export async function startGateway(secret: string, env: Readonly<Record<string, string>> = {}, nodeFlags: readonly string[] = []): Promise<RunningServer> {
  const port = await freePort();
  const settings = {
    JWT_SECRET: secret,
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: "warn",
    NODE_ENV: "production",
    MAX_CONNECTIONS: String(CONNECTION_LIMIT),
    MAX_CONNECTIONS_PER_USER: String(CONNECTION_LIMIT),
    MAX_STREAM_OPENS_PER_USER_PER_MINUTE: String(CONNECTION_LIMIT),
    HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
    SHUTDOWN_GRACE_MS: "1000",
    ...env,
  };
  return startServerProcess(process.execPath, [...nodeFlags, GATEWAY_MAIN], settings, port, "/readyz");
}

export function gatewayPublisherToken(secret: string): Promise<string> {
  return signGatewayToken(secret, { publish: ["*"] }, "bench-publisher");
}

function gateway(): Contender {
  const secret = randomBytes(32).toString("hex");
  return {
    kind: "gateway",
    unavailable: undefined,
    secret,
    start: () => startGateway(secret),
    publisherToken: () => gatewayPublisherToken(secret),
  };
}

function nchan(): Contender {
  const install = findNchan();
  return {
    kind: "nchan",
    unavailable: install ? undefined : NCHAN_INSTALL_HINT,
    secret: "",
    async start() {
      if (!install) throw new Error(NCHAN_INSTALL_HINT);
      return startNchan(install, await freePort(), HEARTBEAT_INTERVAL_MS / 1000);
    },
    publisherToken: async () => "",
  };
}

function bareNode(): Contender {
  return {
    kind: "bare-node",
    unavailable: undefined,
    secret: "",
    async start() {
      const port = await freePort();
      const env = { PORT: String(port), HOST: "127.0.0.1", HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) };
      return startServerProcess(process.execPath, [BARE_SERVER], env, port, "/healthz");
    },
    publisherToken: async () => "",
  };
}

/** bare Node's server routed by fastify (fastify-sse-server.ts): what fastify alone adds to bare Node. */
export function fastifyFloor(): Contender {
  return {
    ...bareNode(),
    async start() {
      const port = await freePort();
      const env = { PORT: String(port), HOST: "127.0.0.1", HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) };
      return startServerProcess(process.execPath, [FASTIFY_SERVER], env, port, "/healthz");
    },
  };
}

export function contenders(): Contender[] {
  return [gateway(), nchan(), bareNode()];
}
