import { signDevToken } from "./auth/dev-tokens.ts";
import type { GatewayConfig } from "./config/config.ts";
import { redactUrl } from "./config/env-reader.ts";

const DEV_TOKEN_TTL_SECONDS = 24 * 3600;

/** The bus and ingestion sources a configuration turns on, in words (for the banner and the start log). */
export function describeSetup(config: GatewayConfig): { bus: string; sources: string[] } {
  const bus = config.redis
    ? `Redis at ${redactUrl(config.redis.url)} (key prefix ${config.redis.keyPrefix})`
    : "in memory (this process only)";
  const sources = ["HTTP (POST /publish)"];
  if (config.redis) sources.push(`Redis inbox (LPUSH ${config.redis.keyPrefix}inbox)`);
  if (config.sqs) sources.push(`SQS queue ${config.sqs.queueUrl}${config.sqs.endpoint ? ` at ${config.sqs.endpoint}` : ""}`);
  return { bus, sources };
}

/**
 * What a person starting the gateway by hand needs to see: where it listens, what it runs on,
 * and how to get tokens. Nothing in production, whose output is JSON logs only.
 */
export async function startBanner(config: GatewayConfig, url: string): Promise<string | undefined> {
  if (config.production) return undefined;
  const { bus, sources } = describeSetup(config);
  const setup = [`  Listening on:      ${url}`, `  Bus:               ${bus}`, `  Sources:           ${sources.join(", ")}`];
  if (config.jwt.kind === "ephemeral") {
    const page = config.demoPage ? [`  Demo page:         ${url}/?sub=demo-user`] : [];
    return developmentBanner(url, config.jwt.secret, [...setup, ...page]);
  }
  const tokens =
    config.jwt.kind === "secret"
      ? [
          "  Mint tokens signed with JWT_SECRET:",
          "    npm run -s token -- --sub demo-user --topics '*'",
          "    npm run -s token -- --sub demo-publisher --publish '*'",
        ]
      : ["  Tokens come from your identity provider (JWKS_URL)."];
  const signing = config.jwt.kind === "secret" ? "JWT_SECRET" : "JWKS_URL";
  return lines([`sse-gateway is running (tokens checked with ${signing}).`, ...setup, `  API description:   ${url}/openapi.json`, ...tokens]);
}

/** One-process development mode: everything a newcomer needs to see an event arrive. */
async function developmentBanner(url: string, secret: Uint8Array, setup: string[]): Promise<string> {
  const subscriber = await signDevToken(secret, { sub: "demo-user", topics: ["*"] }, DEV_TOKEN_TTL_SECONDS);
  const publisher = await signDevToken(secret, { sub: "demo-publisher", publish: ["*"] }, DEV_TOKEN_TTL_SECONDS);
  const body = JSON.stringify({ users: ["demo-user"], type: "greeting", data: { hello: "world" } });
  return lines([
    "sse-gateway is running in development mode (ephemeral signing secret: these tokens work on this process only).",
    ...setup,
    `  API description:   ${url}/openapi.json`,
    `  Subscriber token:  ${subscriber}`,
    `  Publisher token:   ${publisher}`,
    "  Watch a stream:",
    `    curl -N '${url}/events?access_token=${subscriber}'`,
    "  Publish an event:",
    `    curl -X POST '${url}/publish' -H 'Authorization: Bearer ${publisher}' -H 'Content-Type: application/json' -d '${body}'`,
  ]);
}

function lines(text: string[]): string {
  return ["", ...text, ""].join("\n") + "\n";
}
