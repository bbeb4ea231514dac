// Checks of the docker compose stack that need no Docker engine: the compose file parses and
// points only at files that exist, the LocalStack init scripts are valid shell, and their SQS
// part (queue, dead-letter queue, redrive policy) runs against the fauxqs SQS emulator, where the
// redrive policy is then seen to move a message to the dead-letter queue.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { startFauxqs } from "fauxqs";
import { parse } from "yaml";
import { REPO_ROOT, requireTools, run } from "./container-tools.ts";

const DOCKER_DIR = join(REPO_ROOT, "docker");
const INIT_DIR = join(DOCKER_DIR, "localstack", "init");
const READY_SCRIPTS = readdirSync(join(INIT_DIR, "ready.d"))
  .filter((name) => name.endsWith(".sh"))
  .sort()
  .map((name) => join(INIT_DIR, "ready.d", name));
const QUEUE_SCRIPT = join(INIT_DIR, "ready.d", "10-sqs-queues.sh");
const LAST_COMMUNITY_LOCALSTACK_MINOR = 12;

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown> | string[];
}

const compose = parse(readFileSync(join(DOCKER_DIR, "compose.yaml"), "utf8")) as { services: Record<string, ComposeService> };
const services = compose.services;

test("compose: the services of the local stack are there", () => {
  assert.deepEqual(Object.keys(services).sort(), ["demo-tokens", "front", "gateway-1", "gateway-2", "localstack", "redis"]);
  const localstack = services.localstack?.image ?? "";
  const tag = /^localstack\/localstack:4\.(\d+)(\.\d+)?$/.exec(localstack);
  assert.ok(tag, `LocalStack is pinned to a 4.x tag, not ${localstack}`);
  assert.ok(Number(tag[1]) <= LAST_COMMUNITY_LOCALSTACK_MINOR, `${localstack} is newer than the last release that runs without an auth token`);
  for (const name of ["gateway-1", "gateway-2"]) {
    const environment = services[name]?.environment ?? {};
    for (const variable of ["JWT_SECRET", "REDIS_URL", "SQS_QUEUE_URL", "SQS_ENDPOINT", "AWS_REGION"]) {
      assert.ok(environment[variable], `${name} sets ${variable}`);
    }
    assert.ok(services[name]?.build, `${name} is built from the Dockerfile`);
  }
});

test("compose: every file it references exists", () => {
  const referenced: string[] = [];
  for (const [name, service] of Object.entries(services)) {
    if (service.build) {
      const context = resolve(DOCKER_DIR, service.build.context);
      referenced.push(context, resolve(context, service.build.dockerfile ?? "Dockerfile"));
    }
    for (const volume of service.volumes ?? []) {
      const source = volume.split(":")[0]!;
      if (source.startsWith(".") || source.startsWith("/")) referenced.push(resolve(DOCKER_DIR, source));
      else assert.fail(`${name} mounts a named volume ${source}; the stack keeps no state`);
    }
  }
  assert.ok(referenced.length >= 5, `found the references: ${referenced.join(", ")}`);
  for (const path of referenced) assert.ok(existsSync(path), `${path} exists`);
});

test("compose: nginx spreads over exactly the gateway replicas with SSE-friendly proxying", () => {
  const config = readFileSync(join(DOCKER_DIR, "nginx", "default.conf"), "utf8");
  const upstream = /upstream gateways \{([^}]*)\}/.exec(config)?.[1] ?? "";
  const servers = [...upstream.matchAll(/server\s+([\w.-]+):(\d+)/g)].map((match) => match[1]);
  assert.deepEqual(servers, ["gateway-1", "gateway-2"]);
  for (const directive of ["proxy_buffering off;", "proxy_http_version 1.1;", 'proxy_set_header Connection "";']) {
    assert.ok(config.includes(directive), `default.conf has ${directive}`);
  }
  const readTimeout = /proxy_read_timeout (\d+)(s|m|h);/.exec(config);
  assert.ok(readTimeout, "default.conf sets proxy_read_timeout");
  const seconds = Number(readTimeout[1]) * { s: 1, m: 60, h: 3600 }[readTimeout[2] as "s" | "m" | "h"];
  assert.ok(seconds > 60, `proxy_read_timeout (${seconds} s) is well above the heartbeat`);
});

test("init scripts: valid bash", async () => {
  assert.ok(READY_SCRIPTS.length >= 2, "the queue and rule scripts exist");
  for (const script of READY_SCRIPTS) await run("bash", ["-n", script], { timeoutMs: 10_000 });
});

const shellcheck = requireTools(["shellcheck"], false);
test("init scripts: shellcheck finds nothing", { skip: shellcheck.skip }, async () => {
  if (shellcheck.missing) assert.fail(shellcheck.missing);
  await run("shellcheck", ["--external-sources", ...READY_SCRIPTS, join(INIT_DIR, "lib", "aws.bash")], { timeoutMs: 30_000 });
});

/** One call of the SQS JSON protocol, as the AWS SDKs and CLI send it. */
async function sqs(endpoint: string, action: string, body: Record<string, unknown>): Promise<any> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${action}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${action}: ${text}`);
  return text ? JSON.parse(text) : {};
}

const awsCli = requireTools(["aws"], false);
test("init scripts: the SQS part runs against the SQS emulator and its redrive policy works", { skip: awsCli.skip, timeout: 120_000 }, async (t) => {
  if (awsCli.missing) assert.fail(awsCli.missing);
  const emulator = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false });
  t.after(() => emulator.stop());
  const endpoint = `http://127.0.0.1:${emulator.port}`;
  const env = {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  };
  const first = await run(QUEUE_SCRIPT, [], { timeoutMs: 60_000, env });
  t.diagnostic(first.stdout.trim());
  await run(QUEUE_SCRIPT, [], { timeoutMs: 60_000, env }); // a restarted LocalStack runs it again

  // The queue the compose stack's gateways are told to consume is the one the script made.
  const queueName = new URL(services["gateway-1"]!.environment!.SQS_QUEUE_URL!).pathname.split("/").pop()!;
  const { QueueUrl: queueUrl } = await sqs(endpoint, "GetQueueUrl", { QueueName: queueName });
  const { QueueUrl: dlqUrl } = await sqs(endpoint, "GetQueueUrl", { QueueName: `${queueName}-dlq` });
  const { Attributes: attributes } = await sqs(endpoint, "GetQueueAttributes", { QueueUrl: queueUrl, AttributeNames: ["All"] });
  const { Attributes: dlqAttributes } = await sqs(endpoint, "GetQueueAttributes", { QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] });
  const redrive = JSON.parse(attributes.RedrivePolicy);
  assert.equal(redrive.deadLetterTargetArn, dlqAttributes.QueueArn);
  const maxReceives = Number(redrive.maxReceiveCount);
  assert.ok(maxReceives >= 2 && maxReceives <= 10, `maxReceiveCount ${maxReceives}`);

  // A message that is never deleted (the gateway could not handle it) ends in the DLQ.
  const { MessageId: messageId } = await sqs(endpoint, "SendMessage", { QueueUrl: queueUrl, MessageBody: '{"not":"routable"}' });
  for (let receive = 1; receive <= maxReceives; receive++) {
    const { Messages: messages = [] } = await sqs(endpoint, "ReceiveMessage", { QueueUrl: queueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 0 });
    assert.equal(messages[0]?.MessageId, messageId, `receive ${receive} of ${maxReceives} still finds the message`);
  }
  const { Messages: afterLimit = [] } = await sqs(endpoint, "ReceiveMessage", { QueueUrl: queueUrl, VisibilityTimeout: 0, WaitTimeSeconds: 0 });
  assert.equal(afterLimit.length, 0, "past maxReceiveCount the message left the queue");
  const { Messages: deadLetters = [] } = await sqs(endpoint, "ReceiveMessage", { QueueUrl: dlqUrl, WaitTimeSeconds: 0 });
  assert.equal(deadLetters[0]?.MessageId, messageId, "the message is in the dead-letter queue");
});
