import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createGateway } from "../../src/app.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loggerOptions } from "../../src/telemetry/logger.ts";
import { TEST_SECRET, type RunningGateway } from "./gateway.ts";
import { auditOutput } from "./log-audit.ts";

/** An in-process gateway whose log lines (the production logger's, at debug: every request line too) are kept for assertions. */
export async function startLoggedGateway(env: Record<string, string>): Promise<RunningGateway & { readonly logLines: string[] }> {
  const logLines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      // pino writes whole lines: each goes through the token audit as well.
      auditOutput(chunk.toString("utf8"));
      logLines.push(...chunk.toString("utf8").split("\n").filter((line) => line !== ""));
      done();
    },
  });
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, PORT: "0", HOST: "127.0.0.1", SHUTDOWN_GRACE_MS: "200", ...env }, () => randomBytes(32));
  const gateway = await createGateway(config, { logger: { ...(loggerOptions("debug") as object), stream } });
  const url = await gateway.listen();
  return { gateway, url, logLines, stop: () => gateway.shutdown() };
}
