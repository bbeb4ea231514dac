import { createHash, randomUUID } from "node:crypto";
import { parseCookie } from "cookie";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { EventBus } from "../bus/event-bus.ts";
import { parseEventId } from "../events/event-id.ts";
import { scopedIdempotencyKey, type Publisher } from "../events/publisher.ts";
import { ApiError } from "../http/errors.ts";
import { refuseIf } from "../http/events-route.ts";
import { connectionGone, openSseResponse } from "../http/sse-sink.ts";
import type { Hub } from "../hub/hub.ts";
import { parsePublishForm } from "./publish-form.ts";
import { resolveResume } from "./resume.ts";
import { allMatch, selector } from "./selectors.ts";
import { subscriptionChannels, subscriptionView } from "./subscription.ts";
import { invalidToken, MercureTokens, type MercureGrant, type MercureRole } from "./tokens.ts";
import { generatedId, updateDraft } from "./update.ts";

export const MERCURE_PATH = "/.well-known/mercure";
/** The cookie Mercure clients and frameworks set for EventSource (which cannot send headers). */
export const MERCURE_COOKIE = "mercureAuthorization";

export interface MercureRouteOptions {
  readonly hub: Hub;
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly keys: Readonly<Record<MercureRole, Uint8Array>>;
  readonly anonymous: boolean;
  readonly maxTopicsPerStream: number;
  readonly maxEventBytes: number;
  readonly historyMaxAgeMs: number;
}

const FORM = "application/x-www-form-urlencoded";

const hubQuerySchema = {
  type: "object",
  properties: {
    topic: { type: "array", items: { type: "string" }, description: "A topic selector: an exact topic, a URI Template (RFC 6570) or `*`; repeatable" },
    lastEventID: { type: "string", description: "Resume after this update id, or `earliest` (the Last-Event-ID header wins)" },
    authorization: { type: "string", description: "The subscriber's JWS, for clients that can send neither a header nor a cookie" },
  },
} as const;

const streamResponse = {
  description: [
    "A Server-Sent Events stream of Mercure updates: `id:` (the publisher's id, or one the hub generated),",
    "`event:` (the update's `type`), `retry:`, and one `data:` line per line of the update's data. The",
    "`Last-Event-ID` response header names where the stream starts: the requested id, or `earliest` when",
    "history no longer reaches back to it (the stream then sends what history still holds).",
  ].join(" "),
  content: { "text/event-stream": { schema: { type: "string" } } },
} as const;

const publishBodySchema = {
  type: "string",
  description: "Form fields: `topic` (repeatable: the first canonical, the others alternates), `data`, `private`, `id`, `type`, `retry`",
} as const;

/**
 * The Mercure hub (draft-dunglas-mercure, 0.x): subscribe with GET and publish with a POST form
 * at /.well-known/mercure, on the gateway's own hub, bus and history.
 */
export async function mercureRoutes(app: FastifyInstance, options: MercureRouteOptions): Promise<void> {
  const { hub, bus, publisher } = options;
  const tokens = new MercureTokens(options.keys);
  const resume = { bus, keyOfId: updateKey, maxAgeMs: options.historyMaxAgeMs, now: Date.now };
  // Encapsulated: only these routes read forms; the rest of the API takes JSON alone.
  app.addContentTypeParser(FORM, { parseAs: "string", bodyLimit: options.maxEventBytes }, (_request, body, done) => done(null, body));
  const security: Record<string, string[]>[] = [{ bearer: [] }, { mercureCookie: [] }, { mercureQuery: [] }];

  const subscribeSchema = { summary: "Mercure: subscribe to updates of topic selectors", tags: ["mercure"], security, querystring: hubQuerySchema, response: { 200: streamResponse } };
  app.get(MERCURE_PATH, { schema: subscribeSchema, exposeHeadRoute: false }, async (request, reply) => {
    const query = rawQuery(request.url);
    const selectors = [...new Set(query.getAll("topic"))].map(selector);
    if (selectors.length === 0) throw new ApiError("invalid_request", "`topic` is required: one or more topic selectors (an exact topic, a URI Template, or *)");
    if (selectors.length > options.maxTopicsPerStream) throw new ApiError("invalid_request", `at most ${options.maxTopicsPerStream} \`topic\` selectors per subscription (MAX_TOPICS_PER_STREAM)`);
    const grant = await subscriberGrant(request, query);
    const userId = grant?.subject === undefined ? `mercure-anonymous:${randomUUID()}` : `mercure:${grant.subject}`;
    refuseIf(hub.admit(userId));
    const channels = subscriptionChannels(selectors);
    const requested = headerValue(request.headers["last-event-id"]) ?? query.get("lastEventID") ?? undefined;
    const { start, lastEventId } = await resolveResume(resume, channels, requested);
    if (connectionGone(request.raw, reply.raw)) return reply.hijack();
    reply.hijack();
    const sink = openSseResponse(request.raw, reply.raw, { ...reply.getHeaders(), "last-event-id": lastEventId });
    const view = subscriptionView(selectors, (grant?.subscribe ?? []).map(selector));
    hub.open({ userId, channels, sink, start, view, ...(grant?.expiresAt === undefined ? {} : { expiresAt: grant.expiresAt }) });
    return reply;
  });

  const publishSchema = {
    summary: "Mercure: publish an update (a form)",
    tags: ["mercure"],
    security,
    consumes: [FORM],
    body: publishBodySchema,
    response: { 200: { description: "The update's id", content: { "text/plain": { schema: { type: "string" } } } } },
  };
  app.post(MERCURE_PATH, { schema: publishSchema }, async (request, reply) => {
    const token = mercureToken(request, rawQuery(request.url));
    if (token === undefined) throw missingToken("publishing needs a token");
    const grant = await tokens.verify(token, "publisher");
    const update = parsePublishForm(request.body as string);
    if (grant.publish === undefined || !allMatch(grant.publish.map(selector), update.topics)) {
      throw new ApiError("publish_not_allowed", "the token's `mercure.publish` selectors do not allow every topic of the update", {
        "www-authenticate": 'Bearer error="insufficient_scope"',
      });
    }
    // A publisher's id is an idempotency key: within IDEMPOTENCY_WINDOW_MS a repeat with the same
    // content is answered with the same id and not delivered again; with other content it is a 409.
    const key = update.id === undefined ? undefined : `mercure:${update.id}`;
    const fingerprint = update.id === undefined ? undefined : createHash("sha256").update(JSON.stringify(update)).digest("base64url");
    const result = await publisher.publish(updateDraft(update, key, fingerprint), "http");
    return reply.type("text/plain; charset=utf-8").send(update.id ?? generatedId(parseEventId(result.id)!));
  });

  async function subscriberGrant(request: FastifyRequest, query: URLSearchParams): Promise<MercureGrant | undefined> {
    const token = mercureToken(request, query);
    if (token !== undefined) return tokens.verify(token, "subscriber");
    if (options.anonymous) return undefined;
    throw missingToken("subscribing needs a token on this hub (MERCURE_ANONYMOUS is off)");
  }
}

/** The bus idempotency key of a publisher's update id, as the Publisher scopes it. */
function updateKey(id: string): string {
  return scopedIdempotencyKey(`mercure:${id}`, "http", undefined);
}

/**
 * The request's token: the Authorization header wins, then the `authorization` (or `access_token`)
 * query parameter, then the mercureAuthorization cookie.
 */
function mercureToken(request: FastifyRequest, query: URLSearchParams): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw invalidToken('the Authorization header must be "Bearer <token>"');
    return match[1];
  }
  const fromQuery = query.get("authorization") ?? query.get("access_token");
  if (fromQuery !== null && fromQuery !== "") return fromQuery;
  const cookies = request.headers.cookie;
  const fromCookie = cookies === undefined ? undefined : parseCookie(cookies)[MERCURE_COOKIE];
  return fromCookie === "" ? undefined : fromCookie;
}

/** A 401 without an error code, as the protocol asks when no token was presented. */
function missingToken(what: string): ApiError {
  return new ApiError("token_missing", `${what}: send Authorization: Bearer <token>, the ${MERCURE_COOKIE} cookie, or the authorization query parameter`, {
    "www-authenticate": "Bearer",
  });
}

/** The query as sent: selectors repeat, and the schema's reshaping is not wanted here. */
function rawQuery(url: string): URLSearchParams {
  const at = url.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : url.slice(at + 1));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
