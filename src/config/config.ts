import { readFileSync } from "node:fs";
import { readAuthorizer, type AuthorizerConfig } from "./authorizer-config.ts";
import { ConfigError, EnvReader } from "./env-reader.ts";
import { readMercure, type MercureConfig } from "./mercure-config.ts";
import { readSqs, type SqsConfig } from "./sqs-config.ts";
import { readTargetHealth, type TargetHealthConfig } from "./target-health-config.ts";

export type JwtConfig =
  /** HS256 with JWT_SECRET, a comma list: the first signs, all verify (so a rotation cuts no one off). */
  | { readonly kind: "secret"; readonly secrets: readonly Uint8Array[]; readonly issuer?: string; readonly audience?: string }
  | { readonly kind: "jwks"; readonly jwksUrl: URL; readonly issuer: string; readonly audience: string }
  /** Development only: a secret made at start, printed tokens, and /dev/token. */
  | { readonly kind: "ephemeral"; readonly secret: Uint8Array };

export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  readonly logLevel: string;
  readonly production: boolean;
  readonly jwt: JwtConfig;
  /** Set with AUTH_WEBHOOK_URL or AUTH_LAMBDA_ARN: subscribers without a valid JWT are asked about there. */
  readonly authorizer?: AuthorizerConfig;
  readonly topicsClaim: string;
  /** MAX_TOKEN_LIFETIME_S: longer-lived tokens are refused; unset, any `exp` is accepted. */
  readonly maxTokenLifetimeS?: number;
  readonly heartbeatIntervalMs: number;
  readonly retryMs: number;
  readonly retryJitterMs: number;
  readonly corsOrigins: readonly string[];
  /** DEMO_PAGE: the demo page (and /dev/token in development mode); on by default outside production. */
  readonly demoPage: boolean;
  /** METRICS_TOKEN: when set, /metrics answers only `Authorization: Bearer <it>`. */
  readonly metricsToken?: string;
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  readonly maxOpensPerUserPerMinute: number;
  readonly maxTopicsPerStream: number;
  readonly maxEventBytes: number;
  /** MAX_BATCH_RECIPIENTS: the recipients of all the events of one POST /publish/batch, at most. */
  readonly maxBatchRecipients: number;
  readonly maxStreamBufferBytes: number;
  readonly history: { readonly maxEvents: number; readonly maxAgeMs: number };
  readonly idempotencyWindowMs: number;
  readonly shutdownGraceMs: number;
  /** REQUEST_TIMEOUT_MS: a request that is not an open stream arrives whole (headers and body) within this. */
  readonly requestTimeoutMs: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly emf?: { readonly namespace: string; readonly serviceName: string };
  readonly sqs?: SqsConfig;
  /** Set with REDIS_URL: instances share history and live events through Redis. */
  readonly redis?: RedisConfig;
  /** Set with TARGET_GROUP_ARN (ECS behind an ALB): the drain starts when this task's target drains. */
  readonly targetHealth?: TargetHealthConfig;
  /** Set with MERCURE_PUBLISHER_JWT_KEY (or MERCURE_JWKS_ROLES naming publisher): the Mercure hub at /.well-known/mercure. */
  readonly mercure?: MercureConfig;
}

export interface RedisConfig {
  /** redis:// or rediss:// (TLS), with credentials if any. */
  readonly url: string;
  /** Prepended to every key and pub/sub channel, so several gateways can share one Redis. */
  readonly keyPrefix: string;
  /** A command without a reply after this long fails (the caller gets 503) instead of waiting. */
  readonly commandTimeoutMs: number;
}

/**
 * The most events history keeps per channel. Beyond it a catch-up reads more than a resync of
 * many streams should cost, and a lowered limit takes long to reach in the publish script's
 * bounded trimming steps.
 */
export const HISTORY_MAX_EVENTS_CAP = 10_000;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const MIN_SECRET_BYTES = 32;
/** The rotation in the README needs three (next, current, previous); each more costs an HMAC per bad token. */
const MAX_SECRETS = 4;

/** Reads and checks the whole configuration; throws ConfigError naming the first wrong variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, randomSecret: () => Uint8Array): GatewayConfig {
  const read = new EnvReader(env);
  // Any capitalisation: a deployment that writes Production must not fall into the development mode.
  const production = read.string("NODE_ENV")?.toLowerCase() === "production";
  const port = read.integer("PORT", 8080, 0, 65535);
  const authorizer = readAuthorizer(read);
  const jwt = readJwt(read, production, randomSecret, authorizer);
  return {
    port,
    host: read.string("HOST") ?? "127.0.0.1",
    logLevel: read.oneOf("LOG_LEVEL", "info", LOG_LEVELS),
    production,
    jwt,
    authorizer,
    topicsClaim: read.string("JWT_TOPICS_CLAIM") ?? "topics",
    maxTokenLifetimeS: read.string("MAX_TOKEN_LIFETIME_S") === undefined ? undefined : read.integer("MAX_TOKEN_LIFETIME_S", 0, 60),
    heartbeatIntervalMs: read.integer("HEARTBEAT_INTERVAL_MS", 15_000, 1000, 300_000),
    retryMs: read.integer("RETRY_MS", 3000, 100, 600_000),
    retryJitterMs: read.integer("RETRY_JITTER_MS", 5000, 0, 600_000),
    corsOrigins: readOrigins(read, "CORS_ORIGINS"),
    demoPage: read.oneOf("DEMO_PAGE", production ? "off" : "on", ["on", "off"]) === "on",
    metricsToken: readMetricsToken(read),
    maxConnections: read.integer("MAX_CONNECTIONS", 10_000, 1),
    maxConnectionsPerUser: read.integer("MAX_CONNECTIONS_PER_USER", 10, 1),
    maxOpensPerUserPerMinute: read.integer("MAX_STREAM_OPENS_PER_USER_PER_MINUTE", 60, 1),
    maxTopicsPerStream: read.integer("MAX_TOPICS_PER_STREAM", 20, 0, 1000),
    maxEventBytes: read.integer("MAX_EVENT_BYTES", 65_536, 256, 16 * 1024 * 1024),
    // At most what the batch schema allows anyway: 100 events of 1,000 users and 1,000 topics.
    maxBatchRecipients: read.integer("MAX_BATCH_RECIPIENTS", 10_000, 1, 200_000),
    maxStreamBufferBytes: read.integer("MAX_STREAM_BUFFER_BYTES", 262_144, 4096),
    history: {
      maxEvents: read.integer("HISTORY_MAX_EVENTS", 1000, 1, HISTORY_MAX_EVENTS_CAP),
      maxAgeMs: read.integer("HISTORY_MAX_AGE_MS", 600_000, 1000),
    },
    idempotencyWindowMs: read.integer("IDEMPOTENCY_WINDOW_MS", 600_000, 1000),
    shutdownGraceMs: read.integer("SHUTDOWN_GRACE_MS", 15_000, 0, 600_000),
    requestTimeoutMs: read.integer("REQUEST_TIMEOUT_MS", 10_000, 100, 600_000),
    tls: readTls(read),
    emf: readEmf(read),
    redis: readRedis(read),
    sqs: readSqs(read),
    targetHealth: readTargetHealth(read, port),
    mercure: readMercure(read, checkOrigins, jwt.kind === "jwks" ? jwt : undefined),
  };
}

function readJwt(read: EnvReader, production: boolean, randomSecret: () => Uint8Array, authorizer: AuthorizerConfig | undefined): JwtConfig {
  const secret = read.string("JWT_SECRET");
  // A key set fetched over plain HTTP can be swapped on the way: production takes https: only.
  const jwksUrl = read.url("JWKS_URL", production ? ["https:"] : ["https:", "http:"]);
  const issuer = read.string("JWT_ISSUER");
  const audience = read.string("JWT_AUDIENCE");
  if (secret !== undefined && jwksUrl !== undefined) {
    throw new ConfigError("set either JWT_SECRET (HS256) or JWKS_URL (RS, PS, ES or EdDSA keys), not both");
  }
  if (secret !== undefined) return { kind: "secret", secrets: jwtSecretsFrom(secret), issuer, audience };
  if (jwksUrl !== undefined) {
    if (issuer === undefined || audience === undefined) {
      throw new ConfigError("JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE, so that tokens minted for other apps are refused");
    }
    return { kind: "jwks", jwksUrl, issuer, audience };
  }
  if (production && authorizer) {
    throw new ConfigError(
      `NODE_ENV=production needs JWT_SECRET or JWKS_URL even with ${authorizer.kind === "webhook" ? "AUTH_WEBHOOK_URL" : "AUTH_LAMBDA_ARN"}: the authorizer admits subscribers, publishers still sign in with JWTs`,
    );
  }
  if (production) {
    throw new ConfigError(
      "NODE_ENV=production needs JWT_SECRET or JWKS_URL (with JWT_ISSUER and JWT_AUDIENCE); the development secret is never used in production",
    );
  }
  return { kind: "ephemeral", secret: randomSecret() };
}

/**
 * The keys of a JWT_SECRET value: a comma list, the signing key first, then keys that still verify.
 * Exported for the local stack's token service, which signs with the first one.
 */
export function jwtSecretsFrom(value: string): Uint8Array[] {
  const items = value.split(",").map((item) => item.trim());
  if (items.length > MAX_SECRETS) throw new ConfigError(`JWT_SECRET may list at most ${MAX_SECRETS} secrets, got ${items.length}`);
  return items.map((item, index) => {
    const bytes = new TextEncoder().encode(item);
    if (bytes.length < MIN_SECRET_BYTES) {
      const which = items.length === 1 ? "" : ` (secret ${index + 1} of ${items.length} in the comma list)`;
      throw new ConfigError(`JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes long for HS256${which}, got ${bytes.length}`);
    }
    return bytes;
  });
}

function readOrigins(read: EnvReader, name: string): string[] {
  const origins = read.list(name);
  checkOrigins(name, origins);
  return origins;
}

/** Shared with the CDK app, which checks its corsOrigins the same way at synth time. */
export function checkOrigins(name: string, origins: readonly string[]): void {
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new ConfigError(`${name} must list origins like https://app.example.com (no path, no wildcard), got "${origin}"`);
    }
  }
}

function readTls(read: EnvReader): GatewayConfig["tls"] {
  const certPath = read.string("TLS_CERT");
  const keyPath = read.string("TLS_KEY");
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new ConfigError("TLS_CERT and TLS_KEY go together: set both or neither");
  return { cert: readPem("TLS_CERT", certPath), key: readPem("TLS_KEY", keyPath) };
}

function readPem(name: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new ConfigError(`${name} must be the path of a readable PEM file: ${(error as Error).message}`);
  }
  if (!pem.includes("-----BEGIN")) throw new ConfigError(`${name} file ${path} holds no PEM block`);
  return pem;
}

function readEmf(read: EnvReader): GatewayConfig["emf"] {
  const namespace = read.string("EMF_NAMESPACE");
  if (namespace === undefined) return undefined;
  return { namespace, serviceName: read.string("EMF_SERVICE_NAME") ?? "sse-gateway" };
}

const KEY_PREFIX_PATTERN = /^[\w.:{}-]{0,64}$/;

function readRedis(read: EnvReader): RedisConfig | undefined {
  const url = read.url("REDIS_URL", ["redis:", "rediss:"]);
  // Read before knowing whether Redis is on: a wrong value stops the start either way.
  const keyPrefix = read.string("REDIS_KEY_PREFIX") ?? "sse:";
  if (!KEY_PREFIX_PATTERN.test(keyPrefix)) {
    throw new ConfigError(`REDIS_KEY_PREFIX may hold up to 64 letters, digits and _ . : { } -, got "${keyPrefix}"`);
  }
  const commandTimeoutMs = read.integer("REDIS_COMMAND_TIMEOUT_MS", 2000, 50, 60_000);
  if (url === undefined) return undefined;
  return { url: withCredentials(url, read), keyPrefix, commandTimeoutMs };
}

/**
 * REDIS_USERNAME and REDIS_PASSWORD, for credentials kept apart from the address (ECS hands
 * secrets over as variables of their own), go into the URL that the Redis client reads.
 */
function withCredentials(url: URL, read: EnvReader): string {
  const username = read.string("REDIS_USERNAME");
  const password = read.string("REDIS_PASSWORD");
  if (username === undefined && password === undefined) return url.href;
  if (password === undefined) throw new ConfigError("REDIS_USERNAME needs REDIS_PASSWORD: a Redis user logs in with a password");
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError("REDIS_URL already holds credentials: give them there or in REDIS_USERNAME/REDIS_PASSWORD, not both");
  }
  // The URL setters leave "%" as it is; encoding first lets any password come back out unchanged.
  url.username = encodeURIComponent(username ?? "");
  url.password = encodeURIComponent(password);
  return url.href;
}

const MIN_METRICS_TOKEN_LENGTH = 16;

function readMetricsToken(read: EnvReader): string | undefined {
  const token = read.string("METRICS_TOKEN");
  if (token !== undefined && token.length < MIN_METRICS_TOKEN_LENGTH) {
    throw new ConfigError(`METRICS_TOKEN must be at least ${MIN_METRICS_TOKEN_LENGTH} characters long, got ${token.length}`);
  }
  return token;
}
