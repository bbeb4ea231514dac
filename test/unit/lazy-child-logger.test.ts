import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import type { FastifyBaseLogger } from "fastify";
import { pino } from "pino";
import { lazyChildLogger } from "../../src/telemetry/lazy-child-logger.ts";
import { loggerOptions } from "../../src/telemetry/logger.ts";

/** The gateway's pino options writing into an array; `child` calls are counted. */
function capturingLogger(level: string): { logger: FastifyBaseLogger; lines: Record<string, unknown>[]; children: () => number } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const { time: _time, ...line } = JSON.parse(chunk.toString()) as Record<string, unknown>;
      lines.push(line);
      done();
    },
  });
  const logger = pino(loggerOptions(level) as never, stream) as unknown as FastifyBaseLogger;
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = (...args) => (children++, child(...args));
  return { logger, lines, children: () => children };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("request loggers made on first use", () => {
  it("makes no child logger until a line is logged, then logs what fastify's child would have", async () => {
    const lazy = capturingLogger("info");
    const eager = capturingLogger("info");
    const bindings = { reqId: "r-1" };
    const logger = lazyChildLogger(lazy.logger, bindings, {});
    assert.equal(logger.level, "info");
    logger.debug("not at this level");
    assert.equal(lazy.children(), 1, "a level that is off still forwards, so the child decides");
    const quiet = lazyChildLogger(lazy.logger, bindings, {});
    assert.equal(quiet.level, "info");
    assert.equal(lazy.children(), 1, "reading the level makes no child");

    const real = eager.logger.child(bindings, {});
    for (const target of [logger, real]) {
      target.error({ err: new Error("boom"), code: "x" }, "request failed");
      target.warn("plain %s", "text");
      target.info({ req: { method: "GET", url: "/events?access_token=secret&topic=a", id: "r-1", ip: "127.0.0.1" } }, "incoming request");
      target.child({ extra: 1 }).info("from a grandchild");
    }
    await flush();
    assert.equal(lazy.lines.length, 4);
    assert.deepEqual(lazy.lines.map(withoutStack), eager.lines.map(withoutStack));
    assert.ok(!JSON.stringify(lazy.lines).includes("secret"), "the query's token stays out, as with the real child");
  });
});

function withoutStack(line: Record<string, unknown>): Record<string, unknown> {
  const err = line.err as Record<string, unknown> | undefined;
  return err ? { ...line, err: { ...err, stack: undefined } } : line;
}
