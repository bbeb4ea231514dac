import { createHash, randomUUID } from "node:crypto";
import { parseCookie } from "cookie";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { EventBus } from "../bus/event-bus.ts";
import { parseEventId } from "../events/event-id.ts";
import { scopedIdempotencyKey, type Publisher } from "../events/publisher.ts";
import { fromForeignPage } from "../http/credentials.ts";
import { ApiError } from "../http/errors.ts";
import { refuseIf } from "../http/events-route.ts";
import { connectionGone, openSseResponse } from "../http/sse-sink.ts";
import type { Hub } from "../hub/hub.ts";
import { parsePublishForm } from "./publish-form.ts";
import { Resumer } from "./resume.ts";
import { allMatch, anyMatches, matcher, selector, type MatcherType, type Selector } from "./selectors.ts";
import { SUBSCRIPTIONS_PATH, subscriptionUpdates } from "./subscription-events.ts";
import { registeredSubscription, type MatchType, type SubscriptionRegistry } from "./subscription-registry.ts";
import { subscriptionChannels, subscriptionView } from "./subscription.ts";
import { MAX_LISTED, MAX_SELECTOR_CHARS, parseSubscriptionsPath, subscriptionDocument, subscriptionsDocument } from "./subscriptions-api.ts";
import { invalidToken, type MercureGrant, type MercureTokens } from "./tokens.ts";
import { bearerChallenge, RESOURCE_METADATA_PATH, resourceMetadataDocument, type ResourceMetadataOptions } from "./resource-metadata.ts";
import { generatedId, updateDraft, type MercureUpdate } from "./update.ts";

export const MERCURE_PATH = "/.well-known/mercure";
/** The cookie Mercure clients and frameworks set for EventSource (which cannot send headers). */
export const MERCURE_COOKIE = "mercureAuthorization";

export interface MercureRouteOptions {
  readonly hub: Hub;
  readonly bus: EventBus;
  readonly publisher: Publisher;
  /** Verifies publishers' and subscribers' tokens (HS256 secrets, the JWKS_URL key set). */
  readonly tokens: MercureTokens;
  readonly anonymous: boolean;
  /**
   * MERCURE_SUBSCRIPTIONS=1: subscriptions are registered here, subscription updates are
   * published when they start and end, and the subscriptions API lists them.
   */
  readonly registry?: SubscriptionRegistry;
  /** MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE: the hub serves its protected resource metadata. */
  readonly resourceMetadata?: Omit<ResourceMetadataOptions, "subscriptions">;
  readonly onPublishFailure: (message: string, error: unknown) => void;
  readonly maxTopicsPerStream: number;
  readonly maxEventBytes: number;
  readonly historyMaxAgeMs: number;
  /** CORS_ORIGINS: the other sites whose pages may use the mercureAuthorization cookie. */
  readonly allowedOrigins: readonly string[];
}

const FORM = "application/x-www-form-urlencoded";
/** A host name or address with an optional port, nothing a quoted header parameter would need escaped. */
const PLAIN_HOST = /^[A-Za-z0-9.:[\]-]+$/;

/** The matcher parameters of the newer revision (the issue's names and the draft's camel-case ones). */
const MATCH_PARAMETERS: Readonly<Record<string, MatcherType>> = {
  match: "exact",
  match_exact: "exact",
  matchExact: "exact",
  match_urlpattern: "urlpattern",
  matchURLPattern: "urlpattern",
};
/** A selector of a subscription, with the newer revision's matcher type when it came from a `match...` parameter. */
interface SubscribedSelector {
  readonly selector: Selector;
  readonly matchType?: MatchType;
}

/** The matcher types' names in subscription updates and the subscriptions API (the protocol's canonical case). */
const MATCH_TYPE_NAMES: Readonly<Record<MatcherType, MatchType>> = { exact: "Exact", urlpattern: "URLPattern" };

/** C0 and C1 control characters and DEL, which matcher values must not hold. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

const hubQuerySchema = {
  type: "object",
  properties: {
    topic: { type: "array", items: { type: "string" }, description: "A topic selector: an exact topic, a URI Template (RFC 6570) or `*`; repeatable" },
    match: { type: "array", items: { type: "string" }, description: "Newer revision: an exact topic (no template expansion); repeatable; also `match_exact`" },
    match_urlpattern: { type: "array", items: { type: "string" }, description: "Newer revision: a URL Pattern, e.g. https://example.com/books/:id; repeatable" },
    lastEventID: { type: "string", description: "Resume after this update id, or `earliest` (the Last-Event-ID header wins)" },
    last_event_id: { type: "string", description: "Newer revision's name for lastEventID" },
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
  const { hub, bus, publisher, tokens } = options;
  const resumer = new Resumer({ bus, keyOfId: updateKey, maxAgeMs: options.historyMaxAgeMs, now: Date.now });
  // Encapsulated: only these routes read forms, and nothing else; the rest of the API takes JSON alone.
  // Any other type (JSON too) is a publisher that did not send the form: the app's 415 would advise JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(FORM, { parseAs: "string", bodyLimit: options.maxEventBytes }, (_request, body, done) => done(null, body));
  app.addContentTypeParser("*", (request, _payload, done) => done(notAForm(request.headers["content-type"])));
  // A Content-Type that is no media type at all ("foo") fastify refuses before any parser runs: the advice is still the form.
  app.setErrorHandler((error: FastifyError, request) => {
    throw error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? notAForm(request.headers["content-type"]) : error;
  });
  const security: Record<string, string[]>[] = [{ bearer: [] }, { mercureCookie: [] }, { mercureQuery: [] }];

  const subscribeSchema = { summary: "Mercure: subscribe to updates of topic selectors", tags: ["mercure"], security, querystring: hubQuerySchema, response: { 200: streamResponse } };
  app.get(MERCURE_PATH, { schema: subscribeSchema, exposeHeadRoute: false }, async (request, reply) => {
    const query = rawQuery(request.url);
    const hubUrl = hubUrlOf(request);
    const subscribed = subscriptionSelectors(query, hubUrl, options.maxTopicsPerStream);
    const selectors = subscribed.map((candidate) => candidate.selector);
    const grant = await subscriberGrant(request, query, hubUrl);
    const userId = grant?.subject === undefined ? `mercure-anonymous:${randomUUID()}` : `mercure:${grant.subject}`;
    refuseIf(hub.admit(userId));
    const channels = subscriptionChannels(selectors);
    const requested = headerValue(request.headers["last-event-id"]) ?? query.get("lastEventID") ?? query.get("last_event_id") ?? undefined;
    const { start, lastEventId } = await resumer.resolve(channels, requested);
    if (connectionGone(request.raw, reply.raw)) return reply.hijack();
    reply.hijack();
    // Both revisions' names for where the stream starts.
    const sink = openSseResponse(request.raw, reply.raw, { ...reply.getHeaders(), "last-event-id": lastEventId, "mercure-last-event-id": lastEventId });
    const view = subscriptionView(selectors, grant?.subscribe ?? []);
    hub.open({ userId, channels, sink, start, view, ...(grant?.expiresAt === undefined ? {} : { expiresAt: grant.expiresAt }) });
    if (options.registry) track(options.registry, subscribed, grant?.payload, (onEnd) => sink.onClose(onEnd));
    return reply;
  });

  if (options.registry) {
    options.registry.watch({
      ended: (subscriptions) => publishAll(subscriptionUpdates(subscriptions, false)),
      resumed: (subscriptions) => publishAll(subscriptionUpdates(subscriptions, true)),
    });
    subscriptionsRoutes(options.registry);
  }

  const publishSchema = {
    summary: "Mercure: publish an update (a form)",
    tags: ["mercure"],
    security,
    consumes: [FORM],
    body: publishBodySchema,
    response: { 200: { description: "The update's id", content: { "text/plain": { schema: { type: "string" } } } } },
  };
  app.post(MERCURE_PATH, { schema: publishSchema }, async (request, reply) => {
    const token = mercureToken(request, rawQuery(request.url), options.allowedOrigins);
    if (token === undefined) throw missingToken(request, "publishing needs a token");
    const grant = await tokens.verify(token, "publisher", hubUrlOf(request));
    const update = parsePublishForm(request.body);
    if (update.topics.some(isHubTopic)) {
      throw new ApiError("publish_not_allowed", "topics under /.well-known/mercure are the hub's own (subscription updates): publishers cannot use them", {
        "www-authenticate": 'Bearer error="insufficient_scope"',
      });
    }
    if (grant.publish === undefined || !allMatch(grant.publish, update.topics)) {
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

  /**
   * A stream's subscriptions (one per selector) are registered, then announced; when it ends,
   * unregistered, then announced again. In that order a listing's lastEventID, read before the
   * registry, is never newer than a change the listing misses.
   */
  function track(registry: SubscriptionRegistry, selectors: readonly SubscribedSelector[], payload: unknown, onEnd: (listener: () => void) => void): void {
    const subscriber = `urn:uuid:${randomUUID()}`;
    const subscriptions = selectors.map((candidate) => registeredSubscription(candidate.selector.text, subscriber, payload, candidate.matchType));
    const started = registry.add(subscriptions).then(() => publishAll(subscriptionUpdates(subscriptions, true)));
    onEnd(() => void started.then(() => registry.remove(subscriptions)).then(() => publishAll(subscriptionUpdates(subscriptions, false))));
  }

  /** Subscription updates are best effort: a bus failure is logged, and the subscription goes on. */
  async function publishAll(updates: readonly MercureUpdate[]): Promise<void> {
    await Promise.all(
      updates.map((update) =>
        publisher.publish(updateDraft(update, undefined, undefined), "http").catch((error: unknown) => options.onPublishFailure("a subscription update was not published", error)),
      ),
    );
  }

  /**
   * GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]: the active subscriptions of
   * every instance, for a subscriber token whose `mercure.subscribe` matches the URL's path.
   * lastEventID is read before the registry, so subscribing to the subscription updates from it
   * misses no change the answer does not show.
   */
  function subscriptionsRoutes(registry: SubscriptionRegistry): void {
    const schema = {
      summary: "Mercure: the active subscriptions, of one topic selector, or one subscription (JSON-LD)",
      description: `The path continues with nothing, \`/{topic}\` or \`/{topic}/{subscriber}\`, each URL-encoded. At most ${MAX_LISTED} subscriptions per answer (then \`truncated: true\`).`,
      tags: ["mercure"],
      security,
      response: { 200: { description: "A `Subscriptions` collection, or one `Subscription`, with `lastEventID`", content: { "application/ld+json": { schema: { type: "object" } } } } },
    };
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const path = request.url.split("?", 1)[0]!;
      const filter = parseSubscriptionsPath(path);
      const grant = await listerGrant(request, path);
      if (!anyMatches(grant.subscribe, [path])) {
        throw new ApiError("subscriptions_not_allowed", "the token's `mercure.subscribe` selectors do not match this subscriptions URL (e.g. /.well-known/mercure/subscriptions{/topic}{/subscriber})", {
          "www-authenticate": 'Bearer error="insufficient_scope"',
        });
      }
      const lastEventID = generatedId(await bus.head());
      const single = filter.subscriber !== undefined;
      const listing = await registry.list(filter, single ? 1 : MAX_LISTED);
      const document = single ? subscriptionDocument(listing, lastEventID) : subscriptionsDocument(path, lastEventID, listing);
      return reply.type("application/ld+json").header("cache-control", "no-store").send(JSON.stringify(document));
    };
    app.get(SUBSCRIPTIONS_PATH, { schema, exposeHeadRoute: false }, handler);
    // The rest of the path, parsed as sent: topics are long and carry encoded slashes.
    const rest = { type: "object", properties: { "*": { type: "string", description: "`{topic}` or `{topic}/{subscriber}`, each URL-encoded" } } };
    app.get(`${SUBSCRIPTIONS_PATH}/*`, { schema: { ...schema, params: rest }, exposeHeadRoute: false }, handler);
  }

  if (options.resourceMetadata) {
    const document = JSON.stringify(resourceMetadataDocument({ ...options.resourceMetadata, subscriptions: options.registry !== undefined }));
    const schema = { summary: "Mercure: the hub's OAuth 2.0 protected resource metadata (RFC 9728)", tags: ["mercure"], response: { 200: { description: "The metadata document", content: { "application/json": { schema: { type: "object" } } } } } };
    app.get(RESOURCE_METADATA_PATH, { schema, exposeHeadRoute: false }, async (_request, reply) => reply.type("application/json").send(document));
  }

  /** A 401 without an error code, as the protocol asks when no token was presented. */
  function missingToken(request: FastifyRequest, what: string): ApiError {
    // The Host header goes into a quoted parameter: one that could break out of it is left out.
    const metadataUrl = options.resourceMetadata && PLAIN_HOST.test(request.host) ? `${request.protocol}://${request.host}${RESOURCE_METADATA_PATH}` : undefined;
    return new ApiError("token_missing", `${what}: send Authorization: Bearer <token>, the ${MERCURE_COOKIE} cookie, or the authorization query parameter`, {
      "www-authenticate": bearerChallenge(metadataUrl),
    });
  }

  async function listerGrant(request: FastifyRequest, path: string): Promise<MercureGrant> {
    const token = mercureToken(request, rawQuery(request.url), options.allowedOrigins);
    if (token === undefined) throw missingToken(request, `listing subscriptions (${path.slice(0, 100)}) needs a subscriber token`);
    return tokens.verify(token, "subscriber", hubUrlOf(request));
  }

  async function subscriberGrant(request: FastifyRequest, query: URLSearchParams, hubUrl: string): Promise<MercureGrant | undefined> {
    const token = mercureToken(request, query, options.allowedOrigins);
    if (token !== undefined) return tokens.verify(token, "subscriber", hubUrl);
    if (options.anonymous) return undefined;
    throw missingToken(request, "subscribing needs a token on this hub (MERCURE_ANONYMOUS is off)");
  }
}

/**
 * The selectors of a subscription: `topic` (exact or URI Template, the old revision), `match` /
 * `match_exact` (exact) and `match_urlpattern` (URL Pattern, the newer one). Any other parameter
 * named `match...` is refused: the newer revision reserves the prefix.
 */
function subscriptionSelectors(query: URLSearchParams, hubUrl: string, maxSelectors: number): SubscribedSelector[] {
  const selectors = new Map<string, SubscribedSelector>();
  for (const [name, value] of query) {
    if (value.length > MAX_SELECTOR_CHARS) throw new ApiError("invalid_request", `\`${name.slice(0, 50)}\` is at most ${MAX_SELECTOR_CHARS} characters`);
    if (name === "topic") {
      selectors.set(`topic ${value}`, { selector: compiled(() => selector(value), `\`topic\` "${value.slice(0, 100)}" is refused`) });
      continue;
    }
    if (!name.toLowerCase().startsWith("match")) continue;
    const type = Object.hasOwn(MATCH_PARAMETERS, name) ? MATCH_PARAMETERS[name]! : undefined;
    if (type === undefined) throw new ApiError("invalid_request", `unknown matcher parameter \`${name.slice(0, 50)}\`: use topic, match, match_exact or match_urlpattern`);
    if (value === "" || CONTROL_CHARACTERS.test(value)) throw new ApiError("invalid_request", `\`${name}\` must be a non-empty value without control characters`);
    const made = compiled(() => matcher(type, value, hubUrl), `\`${name}\` is not an accepted URL Pattern: "${value.slice(0, 100)}"`);
    selectors.set(`${type} ${value}`, { selector: made, matchType: MATCH_TYPE_NAMES[type] });
  }
  if (selectors.size === 0) throw new ApiError("invalid_request", "a topic selector is required: `topic` (an exact topic, a URI Template or *), `match` or `match_urlpattern`");
  if (selectors.size > maxSelectors) throw new ApiError("invalid_request", `at most ${maxSelectors} topic selectors per subscription (MAX_TOPICS_PER_STREAM)`);
  return [...selectors.values()];
}

/** A selector, or 400 with why it is refused (malformed, or too costly to match). */
function compiled(make: () => Selector, refusal: string): Selector {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new ApiError("invalid_request", `${refusal}: ${error.message}`);
  }
}

/** The hub's URL as this request reached it: relative URL Patterns and topics resolve against it. */
function hubUrlOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${MERCURE_PATH}`;
}

/** Whether a topic, resolved against the hub, names the hub's own namespace (where subscription updates go). */
function isHubTopic(topic: string): boolean {
  // Both spellings: URL Patterns match the normalised path, exact topics and templates the path as
  // written, which dot segments (`/.well-known/mercure/subscriptions/../..`) normalise out of the hub's.
  const paths = [WRITTEN_PATH.exec(topic)![1]!];
  try {
    paths.push(new URL(topic, "https://hub.invalid/").pathname);
  } catch {
    // Not a URL: only its written path counts.
  }
  return paths.some((path) => path === MERCURE_PATH || path.startsWith(`${MERCURE_PATH}/`));
}

/** The path of a URL or relative reference as written: after any scheme and authority, before `?` or `#`. */
const WRITTEN_PATH = /^(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?:\/\/[^/?#]*)?([^?#]*)/;

/** The bus idempotency key of a publisher's update id, as the Publisher scopes it. */
function updateKey(id: string): string {
  return scopedIdempotencyKey(`mercure:${id}`, "http", undefined);
}

/**
 * The request's token: the Authorization header wins, then the `authorization` (or `access_token`)
 * query parameter, then the mercureAuthorization cookie. The cookie is ambient: any page the user
 * visits could submit a publish form (no preflight) or open streams with it, so it counts only
 * from the gateway's own origin or one of CORS_ORIGINS, as Mercure's publish origins do.
 */
function mercureToken(request: FastifyRequest, query: URLSearchParams, allowedOrigins: readonly string[]): string | undefined {
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
  if (fromCookie === undefined || fromCookie === "") return undefined;
  if (fromForeignPage(request, allowedOrigins)) {
    throw new ApiError("origin_not_allowed", `the ${MERCURE_COOKIE} cookie is taken only from the gateway's own origin or one listed in CORS_ORIGINS, not from ${request.headers.origin ?? `a ${request.headers["sec-fetch-site"]} page`}`);
  }
  return fromCookie;
}

function notAForm(contentType: string | undefined): ApiError {
  const sent = contentType === undefined ? "a body without Content-Type" : JSON.stringify(contentType.slice(0, 100));
  return new ApiError("unsupported_media_type", `publish the update as a form, Content-Type: ${FORM} (fields topic, data, private, id, type, retry), not ${sent}`);
}

/** The query as sent: selectors repeat, and the schema's reshaping is not wanted here. */
function rawQuery(url: string): URLSearchParams {
  const at = url.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : url.slice(at + 1));
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
