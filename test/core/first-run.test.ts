import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { decodeJwt } from "jose";
import { gatewaysOnAnyPort, type ChildGateway } from "../support/child-gateway.ts";
import { freePort } from "../support/free-port.ts";
import { publish, startGateway, TEST_SECRET, type RunningGateway } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TOKEN_SCRIPT = path.join(ROOT, "scripts/token.ts");
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** `node scripts/token.ts ...` with only the environment given (plus PATH). */
function tokenCommand(args: string[], env: Record<string, string> = { JWT_SECRET: TEST_SECRET }) {
  const result = spawnSync(process.execPath, [TOKEN_SCRIPT, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("npm run token", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.stop());

  it("prints only a token, whose stream receives what its publish token sends", async () => {
    // Through npm itself, as the README says: -s keeps npm's header off stdout.
    const { stdout } = await run("npm", ["run", "-s", "token", "--", "--sub", "alice", "--topics", "news,orders.*", "--ttl", "1h"], {
      cwd: ROOT,
      env: { ...process.env, JWT_SECRET: TEST_SECRET },
    });
    assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const subscriber = stdout.trim();
    const claims = decodeJwt(subscriber);
    assert.equal(claims.sub, "alice");
    assert.deepEqual(claims.topics, ["news", "orders.*"]);
    assert.equal(claims.exp! - claims.iat!, 3600);

    const publisher = tokenCommand(["--sub", "billing", "--publish", "*"]).stdout.trim();
    assert.match(publisher, JWT);
    const stream = await connectSse(gw.url, { token: subscriber, topics: ["news", "orders.42"], tokenInQuery: true });
    assert.equal(stream.status, 200);
    assert.equal((await publish(gw.url, { topics: ["orders.42"], type: "order.updated", data: { n: 1 } }, publisher)).status, 202);
    assert.equal((await publish(gw.url, { users: ["alice"], type: "private", data: { n: 2 } }, publisher)).status, 202);
    const events = await stream.waitFor(2);
    assert.deepEqual(events.map((event) => event.event), ["order.updated", "private"]);
    stream.close();
    const refused = await connectSse(gw.url, { token: subscriber, topics: ["secret"] });
    assert.equal(refused.status, 403);
    refused.close();
  });

  it("follows JWT_ISSUER, JWT_AUDIENCE, JWT_TOPICS_CLAIM and the first secret of a list", async () => {
    const second = "another-secret-that-is-long-enough-!!!";
    const env = { JWT_SECRET: `${TEST_SECRET},${second}`, JWT_ISSUER: "https://me", JWT_AUDIENCE: "gw", JWT_TOPICS_CLAIM: "custom:topics" };
    const strict = await startGateway(env);
    try {
      const { stdout, status } = tokenCommand(["--sub", "ann", "--topics", "news"], env);
      assert.equal(status, 0);
      const claims = decodeJwt(stdout.trim());
      assert.deepEqual(claims["custom:topics"], ["news"]);
      const stream = await connectSse(strict.url, { token: stdout.trim(), topics: ["news"] });
      assert.equal(stream.status, 200);
      stream.close();
    } finally {
      await strict.stop();
    }
  });

  it("refuses wrong flags and settings with one line on stderr, nothing on stdout, exit 2", () => {
    const cases: Array<[string[], Record<string, string> | undefined, RegExp]> = [
      [[], undefined, /--sub is required/],
      [["--sub", "a", "--ttl", "5x"], undefined, /--ttl must be a duration/],
      [["--sub", "a", "--ttl", "0"], undefined, /--ttl must be a duration/],
      [["--sub", "a", "--bogus"], undefined, /Unknown option '--bogus'/],
      [["--sub", "a", "stray"], undefined, /positional/],
      [["--sub", "a", "--topics", "a,,b"], undefined, /--topics must be a comma list/],
      [["--sub", "a\u0001"], undefined, /--sub must be/],
      [["--sub", "a"], {}, /JWT_SECRET is not set/],
      [["--sub", "a"], { JWT_SECRET: "short" }, /JWT_SECRET must be at least 32 bytes/],
      [["--sub", "a"], { JWKS_URL: "https://idp.example/jwks", JWT_ISSUER: "i", JWT_AUDIENCE: "a" }, /JWKS_URL is set/],
      [["--sub", "a", "--ttl", "2h"], { JWT_SECRET: TEST_SECRET, MAX_TOKEN_LIFETIME_S: "3600" }, /longer than MAX_TOKEN_LIFETIME_S/],
    ];
    for (const [args, env, message] of cases) {
      const result = tokenCommand(args, env);
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });
});

describe("starting the gateway", () => {
  const start = gatewaysOnAnyPort();

  /** One line on stderr, naming the variable; no stack trace; exit 2. */
  async function assertOneLineFailure(gateway: ChildGateway, names: RegExp): Promise<void> {
    assert.equal(await gateway.exited, 2, gateway.output());
    const lines = gateway.output().trim().split("\n");
    assert.equal(lines.length, 1, gateway.output());
    assert.match(lines[0]!, /^sse-gateway: cannot start: /);
    assert.match(lines[0]!, names);
  }

  it("says in one line that the port is in use", async () => {
    const taken = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
    try {
      await assertOneLineFailure(start({ PORT: String(port) }), new RegExp(`PORT ${port} is already in use.*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });

  it("says in one line that HOST is not this machine's, or does not resolve", async () => {
    await assertOneLineFailure(start({ HOST: "192.0.2.1" }), /HOST "192\.0\.2\.1" is not an address of this machine/);
    await assertOneLineFailure(start({ HOST: "no-such-host.invalid" }), /HOST "no-such-host\.invalid" does not resolve/);
  });

  it("says in one line that TLS_CERT and TLS_KEY do not go together", async () => {
    const folder = mkdtempSync(path.join(tmpdir(), "sse-tls-"));
    try {
      const make = (name: string) =>
        spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
          "-keyout", path.join(folder, `${name}.key`), "-out", path.join(folder, `${name}.pem`), "-subj", "/CN=localhost"]);
      if (make("a").status !== 0 || make("b").status !== 0) return;
      const gateway = start({ TLS_CERT: path.join(folder, "a.pem"), TLS_KEY: path.join(folder, "b.key") });
      await assertOneLineFailure(gateway, /TLS_CERT and TLS_KEY cannot be used together/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("the banner names the memory bus alone, and with JWT_SECRET says how to mint tokens", async () => {
    const dev = start({});
    const [, bus] = await dev.waitForOutput(/Bus: +(.+)\n/);
    assert.equal(bus, "in memory (this process only)");
    const secret = start({ JWT_SECRET: TEST_SECRET });
    await secret.waitForOutput(/tokens checked with JWT_SECRET/);
    await secret.waitForOutput(/npm run -s token -- --sub demo-user --topics '\*'/);
    assert.doesNotMatch(secret.output(), /Subscriber token/);
  });

  it("prints no banner in production, only JSON log lines", async () => {
    const gateway = start({ NODE_ENV: "production", JWT_SECRET: TEST_SECRET });
    await gateway.waitForOutput(/"msg":"started"/);
    for (const line of gateway.output().trim().split("\n")) assert.doesNotThrow(() => JSON.parse(line), line);
  });
});
