import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => path.join(ROOT, folder, file));
}

/** Every variable the gateway and its scripts read: names given to the env reader in src/config, and process.env.NAME anywhere in src and scripts. */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles("src/config")) {
    for (const match of readFileSync(file, "utf8").matchAll(/"([A-Z][A-Z0-9_]{2,})"/g)) names.add(match[1]!);
  }
  for (const file of [...sourceFiles("src"), ...sourceFiles("scripts")]) {
    for (const match of readFileSync(file, "utf8").matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\["([A-Z][A-Z0-9_]*)"\])/g)) names.add((match[1] ?? match[2])!);
  }
  return names;
}

/** The variables the rows of the README's configuration table name in their first cell. */
function variablesListed(): Set<string> {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.split(/^## Configuration$/m)[1]!.split(/^## /m)[0]!;
  const names = new Set<string>();
  for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
    for (const match of row.split("|")[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1]!);
  }
  return names;
}

describe("the README's configuration table", () => {
  it("lists every variable the code reads", () => {
    const listed = variablesListed();
    const read = variablesRead();
    assert.ok(read.size > 40 && listed.size > 40, `${read.size} read, ${listed.size} listed`);
    const missing = [...read].filter((name) => !listed.has(name)).sort();
    assert.deepEqual(missing, [], `read by the code, not in the README's configuration table: ${missing.join(", ")}`);
  });

  it("lists no variable the code does not read", () => {
    const read = variablesRead();
    const stale = [...variablesListed()].filter((name) => !read.has(name)).sort();
    assert.deepEqual(stale, [], `in the README's configuration table, read by nothing: ${stale.join(", ")}`);
  });
});
