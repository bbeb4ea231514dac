import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { loadConfig, type GatewayConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/config/env-reader.ts";

const USAGE = `Prints a token signed with JWT_SECRET (the first secret of the list), and nothing else on stdout.

  npm run -s token -- --sub alice --topics 'news,orders.*' --publish '*' --ttl 1h

  --sub ID         the user id (the token's sub); required
  --topics LIST    comma list of topic patterns the user may subscribe to (* matches any run of characters)
  --publish LIST   comma list of patterns the token may publish to (topic:<pattern>, user:<pattern>, or *)
  --ttl DURATION   lifetime: 90 or 90s, 15m, 1h, 7d (default 1h)

Reads the gateway's own variables: JWT_SECRET, and JWT_ISSUER, JWT_AUDIENCE, JWT_TOPICS_CLAIM and
MAX_TOKEN_LIFETIME_S when set, so the token passes the gateway's checks. (-s keeps npm's own
header off stdout, for TOKEN=$(npm run -s token -- ...).)`;

const DURATION = /^(\d{1,9})([smhd]?)$/;
const SECONDS = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** A wrong flag or setting: one line on stderr, exit 2. */
class UsageError extends Error {}

function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match || Number(match[1]) === 0) throw new UsageError(`--ttl must be a duration like 90s, 15m, 1h or 7d, got "${text}"`);
  return Number(match[1]) * SECONDS[match[2] as keyof typeof SECONDS];
}

function parseList(flag: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) throw new UsageError(`--${flag} must be a comma list without empty items, got "${text}"`);
  return items;
}

function signingSettings(config: GatewayConfig): Extract<GatewayConfig["jwt"], { kind: "secret" }> {
  if (config.jwt.kind === "secret") return config.jwt;
  if (config.jwt.kind === "jwks") throw new UsageError("JWKS_URL is set: tokens come from your identity provider, not from this command");
  throw new UsageError("JWT_SECRET is not set: export the secret the gateway runs with (JWT_SECRET=... npm run -s token -- ...)");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: "string" },
      topics: { type: "string" },
      publish: { type: "string" },
      ttl: { type: "string", default: "1h" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.sub) throw new UsageError("--sub is required: the user id the token is for");
  if (/[\u0000-\u001f\u007f]/.test(values.sub) || values.sub.length > 256 || !values.sub.isWellFormed()) {
    throw new UsageError("--sub must be 1 to 256 characters of well-formed Unicode without control characters");
  }
  const ttl = parseDuration(values.ttl);
  const config = loadConfig(process.env, () => randomBytes(32));
  const jwt = signingSettings(config);
  if (config.maxTokenLifetimeS !== undefined && ttl > config.maxTokenLifetimeS) {
    throw new UsageError(`--ttl ${values.ttl} is longer than MAX_TOKEN_LIFETIME_S (${config.maxTokenLifetimeS} s): the gateway would refuse the token`);
  }
  const topics = parseList("topics", values.topics);
  const publish = parseList("publish", values.publish);
  const claims = { ...(topics ? { [config.topicsClaim]: topics } : {}), ...(publish ? { publish } : {}) };
  let token = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(values.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl);
  if (jwt.issuer !== undefined) token = token.setIssuer(jwt.issuer);
  if (jwt.audience !== undefined) token = token.setAudience(jwt.audience);
  process.stdout.write(`${await token.sign(jwt.secrets[0]!)}\n`);
}

try {
  await main();
} catch (error) {
  const known = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  if (!known) throw error;
  process.stderr.write(`npm run token: ${(error as Error).message}\n(npm run token -- --help for the flags)\n`);
  process.exit(2);
}
