import { randomBytes } from "node:crypto";
import { describeSetup, startBanner } from "./banner.ts";
import { loadConfig, type GatewayConfig } from "./config/config.ts";
import { ConfigError } from "./config/env-reader.ts";
import { createGateway } from "./app.ts";
import { TargetHealthWatcher } from "./drain/target-health-watcher.ts";
import { explainStartupError } from "./startup-errors.ts";

async function main(): Promise<void> {
  let config: GatewayConfig;
  try {
    config = loadConfig(process.env, () => randomBytes(32));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`sse-gateway: configuration error: ${error.message}\n`);
    process.exit(2);
  }
  const gateway = await explainFailure(config, () => createGateway(config));
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
  const url = await explainFailure(config, () => gateway.listen());
  watcher?.start();
  gateway.app.log.info(describeSetup(config), "started");
  const banner = await startBanner(config, url);
  if (banner) process.stdout.write(banner);
}

/** A start that fails on the machine (port taken, unknown host, unusable TLS files): one line, exit 2. */
async function explainFailure<T>(config: GatewayConfig, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const explanation = explainStartupError(error, config);
    if (explanation === undefined) throw error;
    process.stderr.write(`sse-gateway: cannot start: ${explanation}\n`);
    process.exit(2);
  }
}

await main();
