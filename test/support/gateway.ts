import { randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { createGateway, type Gateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { auditedLogger } from "./log-audit.ts";

/** The HS256 secret the test gateways share. */
export const TEST_SECRET = "test-secret-that-is-long-enough-for-hs256!";

export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts an in-process gateway on an ephemeral loopback port; env entries override the defaults. */
export async function startGateway(env: Record<string, string> = {}): Promise<RunningGateway> {
  const config = loadConfig(
    { JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "200", ...env },
    () => randomBytes(32),
  );
  const gateway = await createGateway(config, { logger: auditedLogger() });
  const url = await gateway.listen();
  return {
    gateway,
    url,
    async stop() {
      await gateway.shutdown();
    },
  };
}

export interface TokenClaims {
  readonly sub?: string;
  readonly topics?: readonly string[];
  readonly publish?: readonly string[];
  readonly [claim: string]: unknown;
}

/** Signs a test token; exp defaults to one hour ahead (seconds since the epoch when given). */
export async function token(claims: TokenClaims, options: { exp?: number; secret?: string } = {}): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(options.secret ?? TEST_SECRET));
}

export const publisherToken = () => token({ sub: "test-publisher", publish: ["*"] });

/** POST /publish with a publisher token; returns status and parsed body. */
export async function publish(url: string, body: unknown, authToken?: string): Promise<{ status: number; body: any }> {
  const response = await fetch(new URL("/publish", url), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${authToken ?? (await publisherToken())}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}
