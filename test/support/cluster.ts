import { randomUUID } from "node:crypto";
import { APP_TOKEN_PATH, serveAppTokens } from "./app-tokens.ts";
import { startFront, type Front } from "./front.ts";
import { startGatewayProcess, type GatewayProcess } from "./gateway-process.ts";

/**
 * The gateway instances of one browser scenario, as child processes sharing one Redis under a
 * key prefix of their own, and the front that spreads the browser's requests over them.
 */
export class Cluster {
  readonly instances: GatewayProcess[] = [];
  readonly #redisEnv: Record<string, string>;
  #front: Front | undefined;

  constructor(redisUrl: string) {
    this.#redisEnv = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `e2e-${randomUUID().slice(0, 8)}:` };
  }

  async start(name: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
    const instance = await startGatewayProcess(name, { ...this.#redisEnv, ...env });
    this.instances.push(instance);
    return instance;
  }

  /** The front, which also answers the application's token endpoint. */
  async startFront(upstreams: readonly GatewayProcess[]): Promise<Front> {
    this.#front = await startFront(upstreams, { local: serveAppTokens });
    return this.#front;
  }

  /** The instances' output, for a failure message. */
  outputs(): string {
    return this.instances.map((instance) => `--- ${instance.name} (pid ${instance.pid}) ---\n${instance.output()}`).join("\n");
  }

  async stop(): Promise<void> {
    await this.#front?.close();
    await Promise.all(this.instances.map((instance) => instance.stop()));
  }
}

/** Runs a scenario on a fresh cluster, stopped afterwards; a failure carries the instances' output. */
export async function inCluster(redisUrl: string, run: (cluster: Cluster) => Promise<void>): Promise<void> {
  const cluster = new Cluster(redisUrl);
  try {
    await run(cluster);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${cluster.outputs()}`, { cause: error });
  } finally {
    await cluster.stop();
  }
}

/** The demo page through the front, with tokens from the application's endpoint. */
export function demoUrl(front: Front, sub: string, extra = ""): string {
  return `${front.url}/?sub=${sub}&tokenUrl=${APP_TOKEN_PATH}${extra}`;
}
