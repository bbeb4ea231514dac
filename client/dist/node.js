// client/src/node.ts
var PublishError = class extends Error {
  name = "PublishError";
  status;
  /** The error code of the gateway's answer (`invalid_body`, `publish_not_allowed`, ...), if any. */
  code;
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
};
var DEFAULT_TIMEOUT_MS = 5e3;
var DEFAULT_RETRIES = 3;
var RETRY_BASE_MS = 200;
var RETRY_CAP_MS = 5e3;
var TRANSIENT = [502, 503, 504];
var sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function attempt(url, token, body, timeoutMs) {
  try {
    return await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body,
      signal: AbortSignal.timeout(timeoutMs)
    });
  } catch (error) {
    return error;
  }
}
async function publish(options, body) {
  const url = new URL(options.url);
  if (!url.pathname.endsWith("/publish")) url.pathname = `${url.pathname.replace(/\/$/, "")}/publish`;
  const json = JSON.stringify({ ...body, id: body.id ?? crypto.randomUUID() });
  const retries = options.retries ?? DEFAULT_RETRIES;
  for (let n = 0; ; n++) {
    const token = typeof options.token === "string" ? options.token : await options.token();
    const answer = await attempt(url, token, json, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (!(answer instanceof Error) && answer.status === 202) return await answer.json();
    const transient = answer instanceof Error || TRANSIENT.includes(answer.status);
    if (!transient || n >= retries) throw await publishError(answer, n + 1);
    const retryAfter = answer instanceof Error ? 0 : Number(answer.headers.get("retry-after")) * 1e3 || 0;
    if (!(answer instanceof Error)) await answer.body?.cancel();
    await sleep(Math.max(retryAfter, Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** n)));
  }
}
async function publishError(answer, attempts) {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (answer instanceof Error) return new PublishError(0, void 0, `no answer from the gateway${tries}: ${answer.message}`);
  const text = await answer.text().catch(() => "");
  let parsed = {};
  try {
    parsed = JSON.parse(text);
  } catch {
  }
  return new PublishError(answer.status, parsed.error, `the gateway answered ${answer.status}${tries}: ${parsed.message ?? text.slice(0, 200)}`);
}
var RECIPIENT_FIELDS = ["userId", "userIds", "topic", "topics"];
function eventBridgeEntry(input) {
  if (typeof input.data !== "object" || input.data === null || Array.isArray(input.data)) {
    throw new TypeError("data must be a JSON object: the gateway reads the recipients from the detail, which is the data");
  }
  const clash = RECIPIENT_FIELDS.find((field) => field in input.data);
  if (clash) throw new TypeError(`data.${clash} would be read as a recipient: pass recipients as users and topics`);
  if (!input.users?.length && !input.topics?.length) throw new TypeError("name at least one recipient in users or topics");
  const detail = { ...input.data, ...input.users?.length && { userIds: input.users }, ...input.topics?.length && { topics: input.topics } };
  return {
    Source: input.source,
    DetailType: input.type,
    Detail: JSON.stringify(detail),
    ...input.eventBusName && { EventBusName: input.eventBusName }
  };
}
export {
  PublishError,
  eventBridgeEntry,
  publish
};
