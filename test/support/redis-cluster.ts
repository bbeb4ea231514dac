import { randomUUID } from "node:crypto";
import { startGateway, type RunningGateway } from "./gateway.ts";

/** Several in-process gateways sharing one Redis under a key prefix of their own. */
export interface GatewayGroup {
  readonly instances: RunningGateway[];
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startGatewayGroup(redisUrl: string, count: number, env: Record<string, string> = {}): Promise<GatewayGroup> {
  // A fresh prefix keeps test cases (and a shared REDIS_URL) from seeing each other's keys.
  const groupEnv = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `test-${randomUUID().slice(0, 8)}:`, ...env };
  const instances: RunningGateway[] = [];
  for (let i = 0; i < count; i++) instances.push(await startGateway(groupEnv));
  return {
    instances,
    env: groupEnv,
    async stop() {
      await Promise.all(instances.map((instance) => instance.stop()));
    },
  };
}
