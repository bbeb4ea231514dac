import { randomUUID } from "node:crypto";
import type { AuthorizerRequest } from "./authorizer.ts";

/** The API the gateway poses as; authorizers that build their policy from the methodArn see these. */
const API_ID = "sse-gateway";
const STAGE = "$default";

/**
 * The event API Gateway sends a REQUEST authorizer, with the fields of both REST APIs (resource,
 * httpMethod, path) and WebSocket `$connect` routes (routeKey, eventType, connectionId), so an
 * authorizer written for either runs unchanged. Headers come under two spellings: as an HTTP/1.1
 * browser sends them (`Authorization`, what REST and WebSocket authorizers commonly read) and
 * lower-case (HTTP/2 clients, HTTP APIs). Missing maps are `{}` rather than API Gateway's
 * `null`: an authorizer that reads `event.queryStringParameters.token` then finds no token
 * instead of crashing.
 */
export function authorizerEvent(request: AuthorizerRequest, functionArn: string): Record<string, unknown> {
  const [, partition, , region, account] = functionArn.split(":");
  const requestId = randomUUID();
  const headers = withBothSpellings(request.headers);
  const userAgent = request.headers["user-agent"] ?? "";
  return {
    type: "REQUEST",
    methodArn: `arn:${partition}:execute-api:${region}:${account}:${API_ID}/${STAGE}/GET/events`,
    resource: "/events",
    path: "/events",
    httpMethod: "GET",
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: Object.fromEntries(Object.entries(request.query).map(([name, value]) => [name, lastOf(value)])),
    multiValueQueryStringParameters: Object.fromEntries(Object.entries(request.query).map(([name, value]) => [name, listOf(value)])),
    topics: request.topics,
    pathParameters: {},
    stageVariables: {},
    requestContext: {
      accountId: account,
      apiId: API_ID,
      stage: STAGE,
      requestId,
      extendedRequestId: requestId,
      connectionId: requestId,
      routeKey: "$connect",
      eventType: "CONNECT",
      messageDirection: "IN",
      resourcePath: "/events",
      path: "/events",
      httpMethod: "GET",
      requestTimeEpoch: Date.now(),
      connectedAt: Date.now(),
      identity: { sourceIp: request.sourceIp, userAgent },
    },
  };
}

function lastOf(value: string | readonly string[]): string {
  return typeof value === "string" ? value : value[value.length - 1]!;
}

function listOf(value: string | readonly string[]): readonly string[] {
  return typeof value === "string" ? [value] : value;
}

/** Each header under its lower-case name and its usual HTTP/1.1 spelling (`user-agent` -> `User-Agent`). */
function withBothSpellings(headers: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const both: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    both[name] = value;
    both[name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase())] = value;
  }
  return both;
}
