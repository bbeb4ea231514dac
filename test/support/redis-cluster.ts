import { randomUUID } from "node:crypto";
import { startGateway, type RunningGateway } from "./gateway.ts";
import { eventually, readyz } from "./wait.ts";

/** Several in-process gateways sharing one Redis under a key prefix of their own. */
export interface GatewayGroup {
  readonly instances: RunningGateway[];
  readonly env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the instances and, like a load balancer, waits until each is ready (unless `waitReady` is false). */
export async function startGatewayGroup(redisUrl: string, count: number, env: Record<string, string> = {}, waitReady = true): Promise<GatewayGroup> {
  // A fresh prefix keeps test cases (and a shared REDIS_URL) from seeing each other's keys.
  const groupEnv = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: `test-${randomUUID().slice(0, 8)}:`, ...env };
  const instances: RunningGateway[] = [];
  for (let i = 0; i < count; i++) instances.push(await startGateway(groupEnv));
  if (waitReady) {
    for (const instance of instances) await eventually(async () => (await readyz(instance.url)).status === 200, 10_000, "instance ready");
  }
  return {
    instances,
    env: groupEnv,
    async stop() {
      await Promise.all(instances.map((instance) => instance.stop()));
    },
  };
}
