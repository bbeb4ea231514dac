import { Duration, aws_events as events, aws_logs as logs } from "aws-cdk-lib";
import type { Node } from "constructs";
import type { GatewayStackProps } from "./gateway-stack.ts";
import type { JwtConfiguration } from "./jwt-settings.ts";
import { longestSilenceMs } from "../src/hub/heartbeat-rotation.ts";
import { subscriberAuthorizerFrom } from "./subscriber-authorizer.ts";
import { SettingsError } from "./settings-error.ts";
import { checkOrigins } from "../src/config/config.ts";

/** The load balancer closes a connection that carried no byte for this long. */
export const LOAD_BALANCER_IDLE_TIMEOUT = Duration.seconds(120);
/** What the longest silence on a stream must leave of the idle timeout: event-loop stalls, GC, a busy task. */
const IDLE_MARGIN_SHARE = 0.25;

/** Events of this detail-type reach the gateway unless the eventPattern context says otherwise. */
/** Events whose source starts with "app." (as in the compose stack): teams name their own pattern. */
export const DEFAULT_EVENT_PATTERN = { source: [{ prefix: "app." }] };

/**
 * Stack settings from CDK context (`-c key=value` or the "context" of cdk.json). Values on the
 * command line arrive as strings; in cdk.json they may be JSON numbers, lists and objects.
 */
export function settingsFromContext(node: Node, imageDirectory: string): GatewayStackProps {
  const context = new ContextReader(node);
  return {
    imageDirectory,
    stackName: context.string("stackName"),
    certificateArn: context.string("certificateArn"),
    domainName: context.string("domainName"),
    eventBusName: context.string("eventBusName") ?? "default",
    eventPattern: eventPatternFrom(context.json("eventPattern") ?? DEFAULT_EVENT_PATTERN),
    jwt: jwtFrom(context),
    authorizer: subscriberAuthorizerFrom({
      webhookUrl: context.string("authWebhookUrl"),
      functionArn: context.string("authLambdaArn"),
      userIdKey: context.string("authLambdaUserIdKey"),
      topicsKey: context.string("authLambdaTopicsKey"),
    }),
    corsOrigins: corsOriginsFrom(context.list("corsOrigins") ?? []),
    natGateways: context.integer("natGateways") ?? 1,
    ...tasksFrom(context),
    streamsPerTask: context.integerFrom("streamsPerTask", 5000, 1, 1_000_000),
    cpuTargetPercent: context.integerFrom("cpuTargetPercent", 60, 1, 100),
    taskCpu: taskCpuFrom(context.integer("taskCpu") ?? 512),
    taskMemoryMiB: context.integer("taskMemoryMiB") ?? 1024,
    redisNodeType: context.string("redisNodeType") ?? "cache.t4g.micro",
    shutdownGrace: shutdownGraceFrom(context.integer("shutdownGraceMs") ?? 15000),
    heartbeatInterval: checkHeartbeatInterval(Duration.millis(context.integer("heartbeatIntervalMs") ?? 15000)),
    metricsNamespace: context.string("metricsNamespace") ?? "SseGateway",
    maxReceiveCount: context.integerFrom("maxReceiveCount", 5, 1, 1000),
    logRetention: retentionFrom(context.integer("logRetentionDays") ?? logs.RetentionDays.ONE_MONTH),
    vpcFlowLogs: context.boolean("vpcFlowLogs") ?? true,
    containerInsights: context.boolean("containerInsights") ?? true,
    secretRotation: rotationFrom(context.integer("secretRotationDays") ?? 30),
  };
}

/**
 * A stream gets a byte at least every heartbeat interval plus one slice (the gateway's heartbeat
 * wheel); that longest silence must stay a quarter of the idle timeout below it, or the load
 * balancer cuts quiet streams.
 */
export function checkHeartbeatInterval(interval: Duration): Duration {
  const silenceMs = longestSilenceMs(interval.toMilliseconds());
  const allowedMs = LOAD_BALANCER_IDLE_TIMEOUT.toMilliseconds() * (1 - IDLE_MARGIN_SHARE);
  if (interval.toMilliseconds() < 1000 || silenceMs > allowedMs) {
    throw new SettingsError(
      `context heartbeatIntervalMs of ${interval.toMilliseconds()} lets a stream go ${Math.round(silenceMs)} ms without a byte; ` +
        `the ${LOAD_BALANCER_IDLE_TIMEOUT.toSeconds()} s idle timeout of the load balancer allows at most ${allowedMs} ms with its margin (and the gateway takes 1000 ms or more)`,
    );
  }
  return interval;
}

/** A complete secret ARN: the name ends in the 6 characters Secrets Manager appends. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/;
/** The CPU units Fargate offers a task. */
const FARGATE_CPU = [256, 512, 1024, 2048, 4096, 8192, 16384];

function tasksFrom(context: ContextReader): { minTasks: number; maxTasks: number } {
  const minTasks = context.integer("minTasks") ?? 2;
  const maxTasks = context.integer("maxTasks") ?? Math.max(10, minTasks);
  if (maxTasks < minTasks) throw new SettingsError(`context maxTasks (${maxTasks}) must be at least minTasks (${minTasks})`);
  return { minTasks, maxTasks };
}

function taskCpuFrom(cpu: number): number {
  if (!FARGATE_CPU.includes(cpu)) throw new SettingsError(`context taskCpu must be one of ${FARGATE_CPU.join(", ")} (Fargate's CPU units), not ${cpu}`);
  return cpu;
}

/** Fargate's stopTimeout and the deregistration delay are whole seconds: the grace is too. */
function shutdownGraceFrom(ms: number): Duration {
  if (ms % 1000 !== 0) throw new SettingsError(`context shutdownGraceMs must be a whole number of seconds in milliseconds (like 15000), not ${ms}`);
  return Duration.millis(ms);
}

/** The gateway's own check of CORS_ORIGINS, at synth time rather than in a task that will not start. */
function corsOriginsFrom(origins: string[]): string[] {
  try {
    checkOrigins("CORS_ORIGINS", origins);
  } catch (error) {
    throw new SettingsError(`context corsOrigins: ${(error as Error).message}`);
  }
  return origins;
}

function jwtFrom(context: ContextReader): JwtConfiguration {
  const mode = context.string("jwtMode") ?? "secret";
  if (mode === "secret") {
    const secretArn = context.string("jwtSecretArn");
    if (secretArn !== undefined && !SECRET_ARN.test(secretArn)) {
      throw new SettingsError(`context jwtSecretArn must be a complete Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), not "${secretArn}"`);
    }
    return { kind: "secret", secretArn };
  }
  if (mode === "jwks") {
    return {
      kind: "jwks",
      jwksUrl: context.string("jwksUrl"),
      issuer: context.string("jwtIssuer"),
      audience: context.string("jwtAudience"),
    };
  }
  throw new SettingsError(`context jwtMode must be "secret" or "jwks", not "${mode}"`);
}

/** Field names of an EventBridge pattern as written in JSON, mapped to the CDK's. */
const PATTERN_FIELDS = {
  version: "version",
  id: "id",
  "detail-type": "detailType",
  source: "source",
  account: "account",
  time: "time",
  region: "region",
  resources: "resources",
  detail: "detail",
} as const satisfies Record<string, keyof events.EventPattern>;

export function eventPatternFrom(raw: unknown): events.EventPattern {
  if (!isRecord(raw)) throw new SettingsError("context eventPattern must be a JSON object");
  const pattern: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(raw)) {
    if (!Object.hasOwn(PATTERN_FIELDS, field)) throw new SettingsError(`context eventPattern has unknown field "${field}"`);
    const expectsObject = field === "detail";
    if (expectsObject ? !isRecord(value) : !Array.isArray(value)) {
      throw new SettingsError(`context eventPattern field "${field}" must be ${expectsObject ? "an object" : "a list"}`);
    }
    pattern[PATTERN_FIELDS[field as keyof typeof PATTERN_FIELDS]] = value;
  }
  if (Object.keys(pattern).length === 0) throw new SettingsError("context eventPattern must match on at least one field");
  return pattern as events.EventPattern;
}

function retentionFrom(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((value) => typeof value === "number");
  if (!allowed.includes(days)) throw new SettingsError(`context logRetentionDays must be one of ${allowed.join(", ")}, not ${days}`);
  return days as logs.RetentionDays;
}

/** Secrets Manager rotates at most every 1000 days; under a day leaves tokens no sensible lifetime. */
function rotationFrom(days: number): Duration {
  if (days < 1 || days > 1000) throw new SettingsError(`context secretRotationDays must be from 1 to 1000, not ${days}`);
  return Duration.days(days);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class ContextReader {
  readonly #node: Node;

  constructor(node: Node) {
    this.#node = node;
  }

  string(key: string): string | undefined {
    const value: unknown = this.#node.tryGetContext(key);
    if (value === undefined || value === "") return undefined;
    if (typeof value !== "string") throw new SettingsError(`context ${key} must be a string`);
    return value;
  }

  integer(key: string): number | undefined {
    const value: unknown = this.#node.tryGetContext(key);
    if (value === undefined || value === "") return undefined;
    const number = typeof value === "string" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isSafeInteger(number) || number < 0) {
      throw new SettingsError(`context ${key} must be a whole number, not ${JSON.stringify(value)}`);
    }
    return number;
  }

  integerFrom(key: string, fallback: number, min: number, max: number): number {
    const number = this.integer(key) ?? fallback;
    if (number < min || number > max) throw new SettingsError(`context ${key} must be from ${min} to ${max}, not ${number}`);
    return number;
  }

  boolean(key: string): boolean | undefined {
    const value: unknown = this.#node.tryGetContext(key);
    if (value === undefined || value === "") return undefined;
    if (value === true || value === "true") return true;
    if (value === false || value === "false") return false;
    throw new SettingsError(`context ${key} must be true or false, not ${JSON.stringify(value)}`);
  }

  list(key: string): string[] | undefined {
    const value: unknown = this.#node.tryGetContext(key);
    if (value === undefined || value === "") return undefined;
    if (typeof value === "string") return value.split(",").map((item) => item.trim()).filter((item) => item !== "");
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value;
    throw new SettingsError(`context ${key} must be a comma-separated string or a list of strings`);
  }

  json(key: string): unknown {
    const value: unknown = this.#node.tryGetContext(key);
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      throw new SettingsError(`context ${key} is not valid JSON`);
    }
  }
}
