import { AuthorizerFailure, MAX_ANSWER_BYTES, type Authorizer, type AuthorizerDecision, type AuthorizerRequest } from "./authorizer.ts";
import { grantDecision } from "./grant.ts";

const MAX_MESSAGE_LENGTH = 300;
const DEFAULT_DENIAL = "the authorizer refused this session";

/**
 * AUTH_WEBHOOK_URL: POSTs `{ headers, query, topics }` and reads `200 { sub, topics, expiresAt }`
 * (allowed) or `401`/`403 { message }` (refused). Any other status is a failure, not a refusal:
 * a broken authorizer must not look like a signed-out user.
 */
export class WebhookAuthorizer implements Authorizer {
  readonly kind = "webhook";
  readonly #url: URL;
  readonly #nowSeconds: () => number;

  constructor(url: URL, nowSeconds: () => number = () => Date.now() / 1000) {
    this.#url = url;
    this.#nowSeconds = nowSeconds;
  }

  async decide(request: AuthorizerRequest, signal: AbortSignal): Promise<AuthorizerDecision> {
    const body = JSON.stringify({ headers: request.headers, query: request.query, topics: request.topics });
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
        signal,
        redirect: "manual",
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new AuthorizerFailure("unreachable", `POST to the webhook failed: ${networkCause(error)}`);
    }
    const text = await readBounded(response);
    if (response.status === 401 || response.status === 403) {
      return { allowed: false, status: response.status, message: denialMessage(text) };
    }
    if (response.status !== 200) throw new AuthorizerFailure("bad_status", `the webhook answered HTTP ${response.status}; expected 200, 401 or 403`);
    const answer = parseObject(text);
    return grantDecision(
      { userId: answer.sub, topics: answer.topics, expiresAt: answer.expiresAt },
      { userId: "sub", topics: "topics", expiresAt: "expiresAt" },
      this.#nowSeconds(),
    );
  }

  close(): void {
    // fetch's pooled connections belong to the process-wide dispatcher and close when idle.
  }
}

async function readBounded(response: Response): Promise<string> {
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body) {
    bytes += chunk.byteLength;
    if (bytes > MAX_ANSWER_BYTES) {
      await response.body.cancel().catch(() => undefined);
      throw new AuthorizerFailure("invalid_answer", `the webhook's answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseObject(text: string): Record<string, unknown> {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new AuthorizerFailure("invalid_answer", "the webhook's 200 answer is not JSON; expected { sub, topics, expiresAt }");
  }
  if (typeof answer !== "object" || answer === null || Array.isArray(answer)) {
    throw new AuthorizerFailure("invalid_answer", "the webhook's 200 answer is not a JSON object; expected { sub, topics, expiresAt }");
  }
  return answer as Record<string, unknown>;
}

/** The webhook's own words for the client, made safe to pass on: one line, bounded. */
function denialMessage(text: string): string {
  let message: unknown;
  try {
    message = (JSON.parse(text) as { message?: unknown } | null)?.message;
  } catch {
    message = undefined;
  }
  if (typeof message !== "string" || message.trim() === "") return DEFAULT_DENIAL;
  return message.replace(/[\u0000-\u001f\u007f]+/g, " ").trim().slice(0, MAX_MESSAGE_LENGTH);
}

/** fetch hides the reason in `cause`; its code (ECONNREFUSED, ENOTFOUND, ...) is what an operator needs. */
function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === "string") return cause.code;
  return typeof cause?.message === "string" ? cause.message : String((error as Error).message ?? error);
}
