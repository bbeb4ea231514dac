import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

/**
 * benchmarks.md is written by two scripts (the server comparison and the SSE writer choice);
 * each replaces only its own marked section, so either can run alone.
 */
export const DOCS_DIR = fileURLToPath(new URL("../../docs/", import.meta.url));
/** Ignored by git: a run on someone's machine changes no tracked file unless asked to. */
export const RESULTS_DIR = fileURLToPath(new URL("../../artifacts/bench/", import.meta.url));

/** Where a run writes benchmarks.md and its charts: docs/ only with --write-docs. */
export function outputDir(writeDocs: boolean): string {
  return writeDocs ? DOCS_DIR : RESULTS_DIR;
}

const SKELETON = `# Benchmarks

Written by \`npm run bench\` (servers side by side) and \`npm run bench -- --writers\` (SSE writer
choice); see README, Benchmarks, for how to run them. Figures depend on the machine and on what
else runs on it: compare the ratios, which are taken within one run.

<!-- bench:servers -->
<!-- /bench:servers -->

<!-- bench:writers -->
<!-- /bench:writers -->
`;

export function replaceSection(document: string, name: string, content: string): string {
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from < 0 || to < from) return `${document.trimEnd()}\n\n${start}\n${content.trim()}\n${end}\n`;
  return `${document.slice(0, from + start.length)}\n${content.trim()}\n${document.slice(to)}`;
}

export async function writeDocSection(dir: string, name: string, content: string): Promise<string> {
  const path = `${dir}benchmarks.md`;
  await mkdir(dir, { recursive: true });
  const current = existsSync(path) ? await readFile(path, "utf8") : SKELETON;
  await writeFile(path, replaceSection(current, name, content));
  return path;
}
