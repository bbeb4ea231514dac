import { randomBytes } from "node:crypto";
import { createGateway, type Gateway } from "../../src/app.ts";
import { signDevToken } from "../../src/auth/dev-tokens.ts";
import { loadConfig } from "../../src/config/config.ts";
import { auditedLogger } from "./log-audit.ts";

export interface DevGateway {
  readonly gateway: Gateway;
  readonly url: string;
  /** A publisher token signed with the gateway's development secret. */
  publisherToken(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * An in-process gateway in development mode (no JWT config): the demo page gets its tokens from
 * /dev/token, as it does for a person trying the gateway out.
 */
export async function startDevGateway(env: Record<string, string> = {}): Promise<DevGateway> {
  const config = loadConfig({ PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "200", ...env }, () => randomBytes(32));
  if (config.jwt.kind !== "ephemeral") throw new Error("startDevGateway needs an environment without JWT settings");
  const secret = config.jwt.secret;
  const gateway = await createGateway(config, { logger: auditedLogger() });
  const url = await gateway.listen();
  return {
    gateway,
    url,
    publisherToken: () => signDevToken(secret, { sub: "test-publisher", publish: ["*"] }, 600),
    stop: () => gateway.shutdown(),
  };
}
