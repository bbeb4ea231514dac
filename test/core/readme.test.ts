import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { gatewaysOnAnyPort } from "../support/child-gateway.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const packageJson = JSON.parse(read("package.json")) as { license: string; scripts: Record<string, string> };

/** The shell block of a README section that holds `marker`. */
function shellBlock(markdown: string, marker: string): string {
  const block = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!).find((text) => text.includes(marker));
  assert.ok(block, `no sh block with ${marker}`);
  return block;
}

describe("the documents a new user reads", () => {
  const start = gatewaysOnAnyPort();
  it("name only npm scripts that exist", () => {
    for (const file of ["README.md", "CONTRIBUTING.md"]) {
      const named = new Set([...read(file).matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((match) => match[1]!));
      assert.ok(named.size > 3, file);
      for (const script of named) assert.ok(packageJson.scripts[script], `${file} names npm run ${script}, which package.json lacks`);
    }
  });

  it("license: the MIT text in LICENSE, as package.json says", () => {
    assert.equal(packageJson.license, "MIT");
    const license = read("LICENSE");
    assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} /);
    assert.match(license, /Permission is hereby granted, free of charge/);
    assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  });

  it("CONTRIBUTING describes every test folder, and CHANGELOG has an Unreleased section", () => {
    const contributing = read("CONTRIBUTING.md");
    const folders = spawnSync("ls", [path.join(ROOT, "test")], { encoding: "utf8" }).stdout.trim().split("\n");
    for (const folder of folders) assert.match(contributing, new RegExp(`\\| \`${folder}\` \\|`), `CONTRIBUTING.md says nothing of test/${folder}`);
    assert.match(read("CHANGELOG.md"), /^## \[Unreleased\]$/m);
  });

  it("the TLS example's certificate is valid for the address the banner prints", async (context) => {
    const block = shellBlock(read("README.md"), "openssl req -x509");
    const openssl = block.split("\nTLS_CERT=")[0]!.replaceAll("\\\n", " ");
    const folder = mkdtempSync(path.join(tmpdir(), "readme-tls-"));
    try {
      const made = spawnSync("sh", ["-c", openssl], { cwd: folder, encoding: "utf8" });
      if (made.error) return context.skip("openssl is not installed");
      assert.equal(made.status, 0, made.stderr);
      assert.match(block, /TLS_CERT=cert\.pem TLS_KEY=key\.pem npm start/);
      const gateway = start({ TLS_CERT: path.join(folder, "cert.pem"), TLS_KEY: path.join(folder, "key.pem") });
      const [, demoPage] = await gateway.waitForOutput(/Demo page: +(\S+)\n/);
      assert.match(demoPage!, /^https:\/\/127\.0\.0\.1:\d+\/\?sub=demo-user$/);
      assert.ok(block.includes(demoPage!.replace(/:\d+\//, ":8080/")), "the README names the page the banner prints");
      // Verified against the certificate as a browser that trusts it would: host name included.
      const status = await new Promise<number>((resolve, reject) => {
        https.get(demoPage!, { ca: readFileSync(path.join(folder, "cert.pem")) }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on("error", reject);
      });
      assert.equal(status, 200);
      gateway.kill("SIGTERM");
      assert.equal(await gateway.exited, 0);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
