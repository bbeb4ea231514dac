import { DEFAULT_TOPIC_PATHS, DEFAULT_USER_ID_PATHS, type EventBridgeRouting } from "../ingest/sqs/eventbridge-routing.ts";
import { parseJsonPath, type JsonPath } from "../ingest/sqs/json-path.ts";
import { ConfigError, type EnvReader } from "./env-reader.ts";

export interface SqsConfig {
  readonly queueUrl: string;
  readonly region: string;
  /** An SQS-compatible endpoint (an emulator); unset means AWS's own. */
  readonly endpoint?: string;
  /** How long a received message stays hidden; extended while it is still being handled. */
  readonly visibilityTimeoutSeconds: number;
  /** Receive loops; each holds at most one batch of 10, so this bounds messages in flight. */
  readonly pollers: number;
  readonly routing: EventBridgeRouting;
}

/** The SQS consumer's settings; undefined when SQS_QUEUE_URL is unset. */
export function readSqs(read: EnvReader): SqsConfig | undefined {
  const queueUrl = read.url("SQS_QUEUE_URL", ["https:", "http:"]);
  // Read before knowing whether the consumer is on: a wrong value stops the start either way.
  const settings = {
    endpoint: read.url("SQS_ENDPOINT", ["https:", "http:"]) && read.string("SQS_ENDPOINT"),
    visibilityTimeoutSeconds: read.integer("SQS_VISIBILITY_TIMEOUT_SECONDS", 30, 2, 43_200),
    pollers: read.integer("SQS_POLLERS", 2, 1, 10),
    routing: {
      userIdPaths: readPaths(read, "SQS_USER_ID_PATHS", DEFAULT_USER_ID_PATHS),
      topicPaths: readPaths(read, "SQS_TOPIC_PATHS", DEFAULT_TOPIC_PATHS),
    },
  };
  if (queueUrl === undefined) return undefined;
  const region = read.string("AWS_REGION") ?? regionOf(queueUrl);
  if (region === undefined) {
    throw new ConfigError(`AWS_REGION must be set: it cannot be read from SQS_QUEUE_URL "${queueUrl.href}"`);
  }
  return { queueUrl: queueUrl.href, region, ...settings };
}

/** https://sqs.eu-west-1.amazonaws.com/123456789012/name names its region. */
function regionOf(queueUrl: URL): string | undefined {
  return /^sqs\.([a-z0-9-]+)\./.exec(queueUrl.hostname)?.[1];
}

function readPaths(read: EnvReader, name: string, fallback: readonly string[]): JsonPath[] {
  const texts = read.string(name) === undefined ? fallback : read.list(name);
  return texts.map((text) => {
    try {
      return parseJsonPath(text);
    } catch (error) {
      throw new ConfigError(`${name} must be a comma list of JSON paths like $.detail.owner.id: ${(error as Error).message}`);
    }
  });
}
