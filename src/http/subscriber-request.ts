import type { FastifyRequest } from "fastify";
import { FORWARDED_HEADERS, type ForwardedHeaders } from "../auth/authorizers/authorizer.ts";
import type { SubscriberRequest } from "../auth/subscriber-authenticator.ts";
import { subscriberToken } from "./credentials.ts";

/**
 * A stream request as authentication sees it: its token, the headers an authorizer gets, its query,
 * its topics. A foreign page's cookies are left out: any page can add an access_token parameter
 * that fails, and the authorizer would then admit the stream on the user's session cookie.
 * Only an authorizer reads the headers, the query and the address: they are gathered when first
 * read, so that a stream opened with a valid token pays for none of them (nor holds the peer
 * address its socket would cache).
 */
export function subscriberRequest(
  request: StreamRequest,
  topics: readonly string[],
  fromForeignPage: boolean,
): SubscriberRequest {
  return new StreamOpenRequest(request, topics, fromForeignPage);
}

type StreamRequest = FastifyRequest<{ Querystring: { access_token?: string } }>;

/** A class rather than an object literal with getters, which V8 builds slowly on every open. */
class StreamOpenRequest implements SubscriberRequest {
  readonly topics: readonly string[];
  readonly requestId: string;
  readonly #request: StreamRequest;
  readonly #fromForeignPage: boolean;
  #headers: ForwardedHeaders | undefined;
  #query: Record<string, string | string[]> | undefined;
  #sourceIp: string | undefined;

  constructor(request: StreamRequest, topics: readonly string[], fromForeignPage: boolean) {
    this.#request = request;
    this.topics = topics;
    this.requestId = request.id;
    this.#fromForeignPage = fromForeignPage;
  }

  token(): string {
    return subscriberToken(this.#request);
  }

  get headers(): ForwardedHeaders {
    return (this.#headers ??= forwardedHeaders(this.#request, this.#fromForeignPage));
  }

  get query(): Record<string, string | string[]> {
    return (this.#query ??= queryOf(this.#request.url));
  }

  get sourceIp(): string {
    return (this.#sourceIp ??= nearestForwardedHop(this.headers["x-forwarded-for"]) ?? this.#request.ip);
  }
}

function forwardedHeaders(request: FastifyRequest, fromForeignPage: boolean): ForwardedHeaders {
  const headers: ForwardedHeaders = {};
  for (const name of FORWARDED_HEADERS) {
    if (name === "cookie" && fromForeignPage) continue;
    const value = request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

/**
 * The client address as the nearest proxy saw it: a load balancer appends the peer it saw, so the
 * last X-Forwarded-For hop is its word, while earlier hops are whatever the client wrote.
 */
function nearestForwardedHop(header: string | undefined): string | undefined {
  const hop = header?.split(",").at(-1)?.trim();
  return hop === "" ? undefined : hop;
}

/** The query as sent (not as the route's schema reshaped it): one value as a string, a repeated one as a list. */
function queryOf(url: string): Record<string, string | string[]> {
  // No prototype: a parameter named __proto__ is just a parameter.
  const query: Record<string, string | string[]> = Object.create(null);
  const at = url.indexOf("?");
  if (at < 0) return query;
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
    const known = query[name];
    query[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value];
  }
  return query;
}
