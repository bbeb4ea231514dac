import { randomBytes } from "node:crypto";
import { signDevToken } from "./auth/dev-tokens.ts";
import { loadConfig, type GatewayConfig } from "./config/config.ts";
import { ConfigError } from "./config/env-reader.ts";
import { createGateway } from "./app.ts";
import { TargetHealthWatcher } from "./drain/target-health-watcher.ts";

const DEV_TOKEN_TTL_SECONDS = 24 * 3600;

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig(process.env, () => randomBytes(32));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sse-gateway: configuration error: ${error.message}\n`);
    process.exit(2);
  }
  const gateway = await createGateway(config);
  let stopping = false;
  // On ECS behind a load balancer the drain starts when this task's target turns draining; the
  // signals stay the way to stop it everywhere else, and the fallback there.
  const watcher = config.targetHealth && new TargetHealthWatcher({
    config: config.targetHealth,
    log: gateway.app.log,
    onDraining: (drainBy) => stop("target draining", drainBy),
    onPollFailure: () => gateway.metrics.targetHealthPollFailed(),
  });
  const stop = (reason: string, drainBy?: number) => {
    if (stopping) return;
    stopping = true;
    watcher?.stop();
    gateway.app.log.info({ reason }, "shutting down");
    gateway.shutdown(drainBy).then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  const url = await gateway.listen();
  watcher?.start();
  if (config.jwt.kind === "ephemeral") await printDevBanner(url, config.jwt.secret);
}

/** One-process development mode: everything a newcomer needs to see an event arrive. */
async function printDevBanner(url: string, secret: Uint8Array): Promise<void> {
  const subscriber = await signDevToken(secret, { sub: "demo-user", topics: ["*"] }, DEV_TOKEN_TTL_SECONDS);
  const publisher = await signDevToken(secret, { sub: "demo-publisher", publish: ["*"] }, DEV_TOKEN_TTL_SECONDS);
  const body = JSON.stringify({ users: ["demo-user"], type: "greeting", data: { hello: "world" } });
  process.stdout.write(
    [
      "",
      "sse-gateway is running in development mode (in memory, ephemeral signing secret).",
      `  Listening on:      ${url}`,
      `  Demo page:         ${url}/?sub=demo-user`,
      `  Subscriber token:  ${subscriber}`,
      `  Publisher token:   ${publisher}`,
      "  Watch a stream:",
      `    curl -N '${url}/events?access_token=${subscriber}'`,
      "  Publish an event:",
      `    curl -X POST '${url}/publish' -H 'Authorization: Bearer ${publisher}' -H 'Content-Type: application/json' -d '${body}'`,
      "",
    ].join("\n") + "\n",
  );
}

await main();
