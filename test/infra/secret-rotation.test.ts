import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { Duration } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import fc from "fast-check";
import { AuthError } from "../../src/auth/auth-error.ts";
import { createTokenVerifier } from "../../src/auth/token-verifier.ts";
import { loadConfig } from "../../src/config/config.ts";
import { REPOSITORY_ROOT, createGatewayApp } from "../../infra/app.ts";
import { maxTokenLifetimeFor } from "../../infra/gateway-stack.ts";
import { freshKey, signingKeyRotation, valkeyUserRotation, type ValkeyUsers } from "../../infra/rotation/rotation-kinds.ts";
import { runRotationStep, type RotationKind, type RotationStep, type SecretVersions } from "../../infra/rotation/rotation-steps.ts";
import { nextSigningKeys } from "../../infra/rotation/signing-key-list.ts";
import { containerOf, environmentOf, findOne, statementsOf, type Resource } from "./template-helpers.ts";
import { token } from "../support/gateway.ts";

// Secrets Manager, ElastiCache and ECS cannot run here: the rotation steps run against stand-ins
// that keep versions, stages and passwords the way those services document them.

const verifierFor = (value: string) => createTokenVerifier(loadConfig({ JWT_SECRET: value }, () => new Uint8Array(32)).jwt, "topics");
const signingKeyOf = (value: string) => value.split(",")[0]!;

describe("the signing key list across rotations", () => {
  test("neighbouring values verify each other's tokens; three rotations apart they do not", async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 2, max: 6 }), async (rotations) => {
      const values = [freshKey()];
      for (let index = 0; index < rotations; index++) values.push(nextSigningKeys(values.at(-1)!, freshKey));
      for (const [index, value] of values.entries()) {
        const verifier = verifierFor(value);
        for (const [other, signer] of values.entries()) {
          const signed = await token({ sub: "alice" }, { secret: signingKeyOf(signer) });
          const verdict = verifier.verify(signed);
          // Two apart depends on where the list began (the first key signs twice); the schedule
          // keeps tokens and tasks within one (next test).
          if (Math.abs(other - index) <= 1) await verdict;
          else if (Math.abs(other - index) >= 3) await assert.rejects(verdict, (error: unknown) => error instanceof AuthError && error.code === "token_bad_signature");
          else await verdict.catch(() => undefined);
        }
        if (index > 0) await signingKeyRotation.check(values[index - 1]!, value);
      }
    }), { numRuns: 15 });
  });

  test("tokens and tasks are never two rotations apart, on a schedule that may run late", () => {
    // Rotation i at times[i] (gaps of at least the interval); a task reads the value current when
    // it starts and is replaced by the deployment that follows the next rotation; a token lives
    // at most MAX_TOKEN_LIFETIME_S. Time is in hours; the interval is 30 days.
    const interval = 30 * 24;
    const maxLifetime = maxTokenLifetimeFor(Duration.hours(interval)).toHours();
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 0, max: 10 * 24 }), { minLength: 2, maxLength: 6 }),
      fc.integer({ min: 0, max: 12 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 30 }),
      (lateness, deploymentHours, samples) => {
        const times = [0];
        for (const late of lateness) times.push(times.at(-1)! + interval + late);
        const versionAt = (time: number) => times.filter((start) => start <= time).length - 1;
        const end = times.at(-1)! + interval;
        for (const [taskStart, tokenIssue, lifetime] of samples) {
          const started = taskStart * end;
          const taskVersion = versionAt(started);
          const replacedBy = (times[taskVersion + 1] ?? Infinity) + deploymentHours;
          const issued = tokenIssue * end;
          const expires = issued + lifetime * maxLifetime;
          const now = Math.max(started, issued);
          if (now > replacedBy || now >= expires) continue;
          assert.ok(Math.abs(versionAt(issued) - taskVersion) <= 1, `token of version ${versionAt(issued)} at a task of version ${taskVersion}`);
        }
      },
    ));
  });
});

/** Secrets Manager's versions and stages, as the rotation protocol sees them. */
class SecretsManagerStandIn implements SecretVersions {
  readonly values = new Map<string, string>();
  readonly stageMap = new Map<string, string[]>();
  readonly log: string[] = [];

  constructor(initial: string) {
    this.values.set("v0", initial);
    this.stageMap.set("v0", ["AWSCURRENT"]);
  }

  /** What RotateSecret does before it calls the function: a version id with AWSPENDING, no value. */
  startRotation(versionId: string): void {
    for (const stages of this.stageMap.values()) stages.splice(stages.indexOf("AWSPENDING") >>> 0, stages.includes("AWSPENDING") ? 1 : 0);
    this.stageMap.set(versionId, ["AWSPENDING"]);
  }

  get current(): string {
    const [id] = [...this.stageMap].find(([, stages]) => stages.includes("AWSCURRENT"))!;
    return this.values.get(id)!;
  }

  async stages() {
    return new Map([...this.stageMap].map(([id, stages]) => [id, [...stages]]));
  }

  async value(versionId: string) {
    const value = this.values.get(versionId);
    if (value === undefined) throw Object.assign(new Error("not found"), { name: "ResourceNotFoundException" });
    return value;
  }

  async putPending(versionId: string, value: string) {
    if (this.values.has(versionId)) throw new Error("a version's value cannot change");
    this.values.set(versionId, value);
    this.log.push("put");
  }

  async promote(versionId: string, fromVersionId: string) {
    const from = this.stageMap.get(fromVersionId)!;
    from.splice(from.indexOf("AWSCURRENT"), 1, "AWSPREVIOUS");
    this.stageMap.set(versionId, ["AWSCURRENT"]);
    this.log.push("promote");
  }
}

const STEPS: RotationStep[] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

async function rotate(store: SecretsManagerStandIn, kind: RotationKind, versionId: string, log: string[], retries = false): Promise<void> {
  store.startRotation(versionId);
  for (const step of STEPS) {
    const event = { SecretId: "secret", ClientRequestToken: versionId, Step: step };
    const redeployer = { async redeploy() { log.push("redeploy"); } };
    await runRotationStep(event, store, kind, redeployer);
    // Secrets Manager may call a step again after a timeout: nothing may change the second time.
    if (retries) await runRotationStep(event, store, kind, redeployer);
  }
}

describe("the rotation protocol", () => {
  test("makes the next value, promotes it, then redeploys, once per rotation even when steps are retried", async () => {
    const store = new SecretsManagerStandIn(freshKey());
    const log: string[] = [];
    const values = [store.current];
    for (const [index, retries] of [false, true, true].entries()) {
      await rotate(store, signingKeyRotation, `v${index + 1}`, log, retries);
      values.push(store.current);
    }
    assert.deepEqual(store.log, ["put", "promote", "put", "promote", "put", "promote"]);
    assert.deepEqual(log, ["redeploy", "redeploy", "redeploy"]);
    assert.equal(values[1]!.split(",").length, 2, "the first rotation announces a key");
    assert.equal(values[3]!.split(",").length, 3);
    assert.equal(new Set(values).size, values.length);
  });

  test("refuses a version that is not pending and a secret without a current version", async () => {
    const store = new SecretsManagerStandIn(freshKey());
    const redeployer = { async redeploy() {} };
    await assert.rejects(runRotationStep({ SecretId: "s", ClientRequestToken: "nope", Step: "createSecret" }, store, signingKeyRotation, redeployer), /does not exist/);
    store.stageMap.set("v9", []);
    await assert.rejects(runRotationStep({ SecretId: "s", ClientRequestToken: "v9", Step: "setSecret" }, store, signingKeyRotation, redeployer), /not pending/);
  });

  test("a check that finds the values apart stops the rotation before anything is promoted", async () => {
    await assert.rejects(signingKeyRotation.check(freshKey(), `${freshKey()},${freshKey()}`), /do not share their signing keys/);
    await assert.rejects(signingKeyRotation.check(freshKey(), "short"), /JWT_SECRET must be at least 32 bytes/);
  });
});

class ElastiCacheUserStandIn implements ValkeyUsers {
  passwords: readonly string[] = [];
  statuses: string[] = [];

  async setPasswords(passwords: readonly string[]) {
    assert.ok(passwords.length <= 2, "ElastiCache keeps at most two passwords");
    this.passwords = passwords;
    this.statuses = ["modifying", "modifying", "active"];
  }

  async status() {
    return this.statuses.shift() ?? "active";
  }
}

describe("the Valkey password across rotations", () => {
  test("the user accepts the new password and the one tasks started with, until the rotation after", async () => {
    const users = new ElastiCacheUserStandIn();
    const waits: number[] = [];
    const kind = valkeyUserRotation(users, async (ms) => { waits.push(ms); });
    const store = new SecretsManagerStandIn(JSON.stringify({ username: "sse-gateway", password: "initial-password-0123456789" }));
    const passwordOf = (value: string) => (JSON.parse(value) as { password: string }).password;
    const seen = [passwordOf(store.current)];
    const log: string[] = [];
    for (let index = 1; index <= 3; index++) {
      await rotate(store, kind, `v${index}`, log);
      seen.push(passwordOf(store.current));
      assert.deepEqual(users.passwords, [seen.at(-2), seen.at(-1)]);
      assert.equal((JSON.parse(store.current) as { username: string }).username, "sse-gateway");
    }
    assert.ok(waits.length >= 2, "testSecret waited while the user was modifying");
    assert.match(seen.at(-1)!, /^[\w-]{64}$/, "no character ElastiCache refuses");
  });

  test("a user that never becomes active fails the test step with a clear error", async () => {
    const users = new ElastiCacheUserStandIn();
    users.status = async () => "modifying";
    const kind = valkeyUserRotation(users, async () => {});
    await assert.rejects(kind.check("{}", "{}"), /still "modifying" after 120 s/);
    assert.throws(() => kind.next("not json"), SyntaxError);
    assert.throws(() => kind.next(JSON.stringify({ username: "x" })), /must hold a username and a password/);
  });
});

describe("in the stack", () => {
  const outdir = mkdtempSync(join(tmpdir(), "sse-gateway-rotation-"));
  after(() => rmSync(outdir, { recursive: true, force: true }));
  const { app, stack } = createGatewayApp({ secretRotationDays: "20" }, outdir);
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Resource>;

  test("both generated secrets rotate on the schedule through the function, and tokens live at most half of it", () => {
    const schedules = Object.values(resources).filter((resource) => resource.Type === "AWS::SecretsManager::RotationSchedule");
    assert.equal(schedules.length, 2);
    for (const schedule of schedules) {
      assert.deepEqual(schedule.Properties.RotationRules, { ScheduleExpression: "rate(20 days)" });
      assert.equal(schedule.Properties.RotateImmediatelyOnUpdate, false);
    }
    const secretsWithSchedule = new Set(schedules.map((schedule) => JSON.stringify(schedule.Properties.SecretId)));
    for (const [id, resource] of Object.entries(resources)) {
      if (resource.Type === "AWS::SecretsManager::Secret") assert.ok(secretsWithSchedule.has(JSON.stringify({ Ref: id })), `${id} rotates`);
    }
    assert.equal(environmentOf(containerOf(resources)).get("MAX_TOKEN_LIFETIME_S"), String(10 * 86_400));
  });

  test("the functions run on Node 24 and may only touch their secret, their user and the service", () => {
    const functions = Object.entries(resources).filter(([, resource]) => resource.Type === "AWS::Lambda::Function");
    assert.equal(functions.length, 2);
    const service = findOne(resources, "AWS::ECS::Service");
    for (const [, fn] of functions) {
      assert.equal(fn.Properties.Runtime, "nodejs24.x");
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      assert.deepEqual(variables.SERVICE_NAME, { "Fn::GetAtt": [service.id, "Name"] });
      const roleId = (fn.Properties.Role as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0];
      assert.equal(resources[roleId]?.Properties.ManagedPolicyArns, undefined, "no managed policy");
      const statements = Object.values(resources)
        .filter((resource) => resource.Type === "AWS::IAM::Policy" && JSON.stringify(resource.Properties.Roles).includes(roleId))
        .flatMap((policy) => statementsOf(policy.Properties.PolicyDocument));
      const actions = new Set(statements.flatMap((statement) => [statement.Action].flat().map(String)));
      assert.ok(actions.has("ecs:UpdateService"));
      assert.equal(actions.has("elasticache:ModifyUser"), variables.ROTATION_KIND === "valkey-user");
      for (const statement of statements) {
        const wildcard = JSON.stringify(statement.Resource) === '"*"';
        assert.ok(!wildcard || JSON.stringify(statement.Action) === '"secretsmanager:GetRandomPassword"', `only GetRandomPassword is on *: ${JSON.stringify(statement.Action)}`);
      }
    }
    template.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: { ROTATION_KIND: "signing-key-list" } } });
  });

  test("an existing JWT secret is its owner's to rotate: no schedule, no token lifetime set", () => {
    const { stack: named } = createGatewayApp({ jwtSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:sse-jwt-AbCdEf" }, outdir);
    const namedResources = Template.fromStack(named).toJSON().Resources as Record<string, Resource>;
    assert.equal(Object.values(namedResources).filter((resource) => resource.Type === "AWS::SecretsManager::RotationSchedule").length, 1);
    assert.equal(environmentOf(containerOf(namedResources)).has("MAX_TOKEN_LIFETIME_S"), false);
  });

  test("the bundled function loads and refuses an unknown kind before calling AWS", async () => {
    const assembly = app.synth();
    const codeDirectories = readdirSync(assembly.directory).filter((entry) => entry.startsWith("asset.") && readdirSync(join(assembly.directory, entry)).includes("index.mjs"));
    assert.equal(codeDirectories.length, 1, "one bundle serves both functions");
    // Next to node_modules, so that the AWS SDK (which the Lambda runtime provides) resolves.
    const copy = join(REPOSITORY_ROOT, "node_modules", ".cache", `rotation-bundle-${process.pid}.mjs`);
    mkdirSync(dirname(copy), { recursive: true });
    copyFileSync(join(assembly.directory, codeDirectories[0]!, "index.mjs"), copy);
    const kind = process.env.ROTATION_KIND;
    process.env.ROTATION_KIND = "bogus";
    try {
      const bundle = (await import(copy)) as { handler: (event: unknown) => Promise<void> };
      await assert.rejects(bundle.handler({ SecretId: "s", ClientRequestToken: "t", Step: "createSecret" }), /ROTATION_KIND must be signing-key-list or valkey-user/);
    } finally {
      rmSync(copy, { force: true });
      if (kind === undefined) delete process.env.ROTATION_KIND;
      else process.env.ROTATION_KIND = kind;
    }
  });

  test("secretRotationDays outside 1 to 1000 is refused", () => {
    assert.throws(() => createGatewayApp({ secretRotationDays: "0" }, outdir), /secretRotationDays must be from 1 to 1000/);
    assert.throws(() => createGatewayApp({ secretRotationDays: "1001" }, outdir), /secretRotationDays must be from 1 to 1000/);
  });
});
