import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { browserSize, buildClient } from "../../client/build.ts";

/** The budget of the browser entry and the worker it loads, minified and gzipped at level 9. */
const BROWSER_BUDGET_BYTES = 4096;
const committed = new URL("../../client/dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(new URL("../../client/package.json", import.meta.url), "utf8"));

describe("the client package build", () => {
  let outdir: string;

  before(async () => {
    outdir = mkdtempSync(join(tmpdir(), "sse-gateway-client-"));
    await buildClient(outdir);
  });

  after(() => rmSync(outdir, { recursive: true, force: true }));

  test(`the browser entry and its worker stay within ${BROWSER_BUDGET_BYTES} bytes min+gzip -9`, () => {
    const size = browserSize(outdir);
    console.log(`browser entry and worker: ${size} bytes`);
    assert.ok(size <= BROWSER_BUDGET_BYTES, `${size} bytes`);
  });

  test("the committed dist/ (what the demo page serves and npm publishes) is the build of the sources", () => {
    const files = readdirSync(outdir).sort();
    assert.deepEqual(readdirSync(committed).sort(), files, "the same files: run npm run build:client");
    for (const file of files) {
      assert.equal(readFileSync(join(committed, file), "utf8"), readFileSync(join(outdir, file), "utf8"), `${file} is stale: run npm run build:client`);
    }
  });

  test("every export names a built file, declarations first, and the package has no runtime dependencies", () => {
    assert.equal(manifest.type, "module");
    assert.equal(manifest.dependencies, undefined);
    const built = readdirSync(outdir);
    for (const [entry, target] of Object.entries(manifest.exports as Record<string, string | Record<string, string>>)) {
      const conditions = typeof target === "string" ? { default: target } : target;
      if (typeof target !== "string") assert.equal(Object.keys(conditions)[0], "types", `${entry}: types comes first`);
      for (const file of Object.values(conditions)) assert.ok(built.includes(file.replace("./dist/", "")), `${entry} -> ${file}`);
    }
  });

  test("the browser entry holds no Node import and the worker loads the entry beside it, not a copy", () => {
    const entry = readFileSync(join(outdir, "index.js"), "utf8");
    assert.doesNotMatch(entry, /from\s*"node:/);
    assert.equal(readFileSync(join(outdir, "worker.js"), "utf8").trim(), 'import{serveTabs as e}from"./index.js";e(self);');
  });
});
