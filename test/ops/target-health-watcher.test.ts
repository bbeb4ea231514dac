import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import type { TargetHealthConfig } from "../../src/config/target-health-config.ts";
import { TargetHealthWatcher, drainDeadline, type WatcherLog } from "../../src/drain/target-health-watcher.ts";
import { startElbStandIn, startTaskMetadata, type ElbStandIn, type TaskMetadataStandIn } from "../support/aws-stand-ins.ts";
import { eventually } from "../support/wait.ts";

// AWS itself (the load balancer API, the ECS task metadata endpoint) cannot run here: the real
// AWS SDK client talks to local stand-ins that speak the same wire protocols.
const ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gateway/0123456789abcdef";
const secret = () => new Uint8Array(32);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class RecordingLog implements WatcherLog {
  readonly lines: { level: string; message: string }[] = [];
  info(_object: object, message: string): void {
    this.lines.push({ level: "info", message });
  }
  warn(_object: object, message: string): void {
    this.lines.push({ level: "warn", message });
  }
  error(_object: object, message: string): void {
    this.lines.push({ level: "error", message });
  }
  at(level: string): string[] {
    return this.lines.filter((line) => line.level === level).map((line) => line.message);
  }
}

describe("configuration of the target health watcher", () => {
  const env = { TARGET_GROUP_ARN: ARN, ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/abc", DEREGISTRATION_DELAY_MS: "30000", PORT: "8080" };

  it("is off without TARGET_GROUP_ARN, and reads the region from the ARN and the port from PORT", () => {
    assert.equal(loadConfig({}, secret).targetHealth, undefined);
    const config = loadConfig(env, secret).targetHealth!;
    assert.equal(config.region, "eu-west-1");
    assert.equal(config.port, 8080);
    assert.equal(config.deregistrationDelayMs, 30000);
    assert.equal(config.pollIntervalMs, 5000);
    assert.equal(config.metadataUri, "http://169.254.170.2/v4/abc");
  });

  it("refuses what cannot work, naming the variable", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ TARGET_GROUP_ARN: "my-target-group" }, /TARGET_GROUP_ARN must be a target group ARN/],
      [{ TARGET_GROUP_ARN: ARN.replace("targetgroup", "loadbalancer/app") }, /TARGET_GROUP_ARN must be a target group ARN/],
      [{ ECS_CONTAINER_METADATA_URI_V4: "" }, /TARGET_GROUP_ARN needs ECS_CONTAINER_METADATA_URI_V4/],
      [{ DEREGISTRATION_DELAY_MS: "" }, /TARGET_GROUP_ARN needs DEREGISTRATION_DELAY_MS/],
      [{ DEREGISTRATION_DELAY_MS: "soon" }, /DEREGISTRATION_DELAY_MS must be a whole number/],
      [{ DEREGISTRATION_DELAY_MS: "5000", TARGET_HEALTH_POLL_MS: "4000" }, /must exceed TARGET_HEALTH_POLL_MS/],
      [{ TARGET_HEALTH_POLL_MS: "10" }, /TARGET_HEALTH_POLL_MS must be a whole number from 100/],
    ];
    for (const [change, message] of cases) assert.throws(() => loadConfig({ ...env, ...change }, secret), message);
  });

  it("ends the drain a margin before the load balancer's earliest cut", () => {
    assert.equal(drainDeadline(30_000, 1_000_000), 1_000_000 + 30_000 - 3000);
    assert.equal(drainDeadline(4000, 0), 3000, "at least a second of margin");
  });
});

describe("target health watcher against a stand-in load balancer API", () => {
  let elb: ElbStandIn;
  let metadata: TaskMetadataStandIn;
  const saved = { ...process.env };
  before(async () => {
    elb = await startElbStandIn(ARN);
    metadata = await startTaskMetadata("127.0.0.9");
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: elb.url,
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    });
  });
  after(async () => {
    process.env = saved;
    await elb.close();
    await metadata.close();
  });

  function watch(target: string, overrides: Partial<TargetHealthConfig> = {}) {
    const log = new RecordingLog();
    const drains: number[] = [];
    let failures = 0;
    const config: TargetHealthConfig = {
      targetGroupArn: ARN,
      region: "eu-west-1",
      deregistrationDelayMs: 4000,
      pollIntervalMs: 100,
      metadataUri: metadata.uri,
      port: Number(target.split(":")[1]),
      ...overrides,
    };
    const watcher = new TargetHealthWatcher({ config, log, onDraining: (drainBy) => drains.push(drainBy), onPollFailure: () => failures++ });
    return { watcher, log, drains, failures: () => failures };
  }

  it("learns its target from the task metadata and reports draining once, with the deadline of the cut", async () => {
    elb.setState("127.0.0.9:7001", "healthy");
    const { watcher, drains, log } = watch("127.0.0.9:7001");
    watcher.start();
    await eventually(async () => watcher.state === "watching" && elb.calls() >= 3, 5000, "polling");
    assert.deepEqual(drains, [], "a healthy target does not drain");
    const markedAt = Date.now();
    elb.setState("127.0.0.9:7001", "draining");
    await eventually(async () => drains.length === 1, 5000, "the drain to be reported");
    assert.equal(watcher.state, "draining");
    // The cut comes a deregistration delay after the target turned draining, which was after the
    // last poll that saw it healthy: the deadline lies within a poll interval (and timer slack) before it.
    const latestCut = markedAt + 4000;
    assert.ok(drains[0]! <= latestCut - 1000, `deadline ${drains[0]! - markedAt} ms after marking leaves the margin`);
    assert.ok(drains[0]! >= latestCut - 1000 - 500, `deadline ${drains[0]! - markedAt} ms after marking is not far too early`);
    const calls = elb.calls();
    await sleep(300);
    assert.equal(elb.calls(), calls, "polling stops once draining");
    assert.deepEqual(drains.length, 1);
    assert.ok(log.at("info").some((line) => /watching this task's target/.test(line)));
  });

  it("never reads failed polls as draining: throttling, 500s and dropped connections are retried, logged once and counted", async () => {
    elb.setState("127.0.0.9:7002", "healthy");
    const { watcher, drains, log, failures } = watch("127.0.0.9:7002");
    elb.failNext(2, "throttling");
    elb.failNext(1, "internal");
    elb.failNext(1, "hang-up");
    watcher.start();
    await eventually(async () => failures() === 4 && log.at("info").some((line) => /works again/.test(line)), 10_000, "recovery after the failures");
    assert.equal(log.at("warn").length, 1, `one warning for the run of failures: ${JSON.stringify(log.lines)}`);
    assert.match(log.at("warn")[0]!, /never read as draining/);
    assert.deepEqual(drains, []);
    assert.equal(watcher.state, "watching");
    watcher.stop();
    const calls = elb.calls();
    await sleep(300);
    assert.equal(elb.calls(), calls, "stop() ends polling");
    assert.equal(watcher.state, "stopped");
  });

  it("says loudly when it cannot work (access denied), keeps trying, and drains once it can", async () => {
    elb.setState("127.0.0.9:7003", "draining");
    const { watcher, drains, log, failures } = watch("127.0.0.9:7003");
    elb.failNext(2, "access-denied");
    watcher.start();
    await eventually(async () => drains.length === 1, 10_000, "the drain once the calls are allowed");
    assert.equal(failures(), 2);
    assert.equal(log.at("error").length, 1);
    assert.match(log.at("error")[0]!, /needs fixing \(IAM/);
  });

  it("a target the load balancer does not know (unused) is not draining; a wrong ARN is an error, not a drain", async () => {
    const unknown = watch("127.0.0.9:7004");
    unknown.watcher.start();
    await eventually(async () => unknown.watcher.state === "watching", 5000, "watching");
    await sleep(400);
    assert.deepEqual(unknown.drains, []);
    assert.equal(unknown.failures(), 0);
    unknown.watcher.stop();

    const wrong = watch("127.0.0.9:7005", { targetGroupArn: ARN.replace("0123456789abcdef", "fedcba9876543210") });
    wrong.watcher.start();
    await eventually(async () => wrong.failures() >= 1, 5000, "a failure");
    assert.match(wrong.log.at("error")[0] ?? "", /needs fixing/);
    assert.deepEqual(wrong.drains, []);
    wrong.watcher.stop();
  });

  it("an answer about another target, or one that is not XML, is never read as this target draining", async () => {
    elb.setState("127.0.0.9:7008", "healthy");
    const { watcher, drains, failures } = watch("127.0.0.9:7008");
    elb.failNext(3, "other-target");
    elb.failNext(2, "garbage");
    const callsBefore = elb.calls();
    watcher.start();
    await eventually(async () => drains.length > 0 || (elb.calls() >= callsBefore + 8 && failures() >= 2), 10_000, "the lying answers to be served");
    assert.deepEqual(drains, [], "another target's draining is not ours");
    assert.equal(watcher.state, "watching");
    watcher.stop();
  });

  it("a wall-clock jump between polls neither cuts the drain short nor pushes it past the cut", async (t) => {
    elb.setState("127.0.0.9:7009", "healthy");
    const drainWindows: number[] = [];
    const realNow = Date.now.bind(Date);
    for (const jumpMs of [3_600_000, -3_600_000]) {
      let jump = 0;
      t.mock.method(Date, "now", () => realNow() + jump);
      elb.setState("127.0.0.9:7009", "healthy");
      const { watcher: w, drains } = watch("127.0.0.9:7009");
      w.start();
      await eventually(async () => w.state === "watching", 5000, "watching");
      await sleep(250);
      jump = jumpMs;
      elb.setState("127.0.0.9:7009", "draining");
      await eventually(async () => drains.length === 1, 5000, "the drain to be reported");
      drainWindows.push(drains[0]! - Date.now());
      w.stop();
      t.mock.restoreAll();
    }
    for (const window of drainWindows) {
      assert.ok(window <= 3000 && window >= 3000 - 500, `the drain gets the deregistration delay less the margin, whatever the clock did: ${window} ms`);
    }
  });

  it("task metadata that cannot be read is retried; one without an address is reported, never guessed", async () => {
    const missing = watch("127.0.0.9:7006", { metadataUri: `${metadata.uri}-missing` });
    missing.watcher.start();
    await eventually(async () => missing.log.lines.length > 0, 5000, "a log line");
    assert.equal(missing.watcher.state, "locating");
    assert.deepEqual(missing.log.lines.map((line) => line.level), ["warn"]);
    assert.match(missing.log.lines[0]!.message, /task metadata endpoint failed; retrying/);
    missing.watcher.stop();

    const hostNetwork = await startTaskMetadata();
    try {
      const { watcher, log, drains } = watch("127.0.0.9:7007", { metadataUri: hostNetwork.uri });
      watcher.start();
      await eventually(async () => log.lines.length > 0, 5000, "a log line");
      assert.equal(watcher.state, "locating");
      assert.deepEqual(log.lines.map((line) => line.level), ["error"]);
      assert.match(log.lines[0]!.message, /task metadata endpoint failed and needs fixing/);
      assert.deepEqual(drains, []);
      watcher.stop();
    } finally {
      await hostNetwork.close();
    }
  });
});
