// Builds the package into dist/ (or another folder): the browser entry and its worker minified
// for size, the Node helper as readable ESM, declarations from tsc. `npm run build:client`.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Plugin } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const tsc = fileURLToPath(new URL("../node_modules/.bin/tsc", import.meta.url));

/** The worker loads the browser entry beside it rather than a second copy of the code. */
const entryBeside: Plugin = {
  name: "entry-beside",
  setup(plugins) {
    plugins.onResolve({ filter: /^\.\/index\.ts$/ }, () => ({ path: "./index.js", external: true }));
  },
};

export const BROWSER_FILES = ["index.js", "worker.js"] as const;

export async function buildClient(outdir = `${here}dist`): Promise<void> {
  const browser = { bundle: true, format: "esm", target: "es2022", minify: true, legalComments: "none", logLevel: "error" } as const;
  await build({ ...browser, entryPoints: [`${here}src/index.ts`], outfile: `${outdir}/index.js` });
  await build({ ...browser, entryPoints: [`${here}src/worker.ts`], outfile: `${outdir}/worker.js`, plugins: [entryBeside] });
  await build({ bundle: true, format: "esm", platform: "node", target: "node20", entryPoints: [`${here}src/node.ts`], outfile: `${outdir}/node.js`, logLevel: "error" });
  execFileSync(tsc, ["-p", `${here}tsconfig.json`, "--outDir", outdir], { stdio: "inherit" });
}

/** Bytes of the browser entry and the worker it loads, minified and gzipped at level 9. */
export function browserSize(outdir = `${here}dist`): number {
  return BROWSER_FILES.reduce((sum, file) => sum + gzipSync(readFileSync(`${outdir}/${file}`), { level: 9 }).length, 0);
}

if (import.meta.main) {
  await buildClient();
  console.log(`browser entry and worker: ${browserSize()} bytes min+gzip -9`);
}
