import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { describeTarget, publishAllows, type PublishTarget } from "../auth/topic-patterns.ts";
import type { Principal, TokenVerifier } from "../auth/token-verifier.ts";
import { parsePublishRequest, publishRequestSchema, toEventDraft, type PublishRequest } from "../events/publish-request.ts";
import type { Publisher } from "../events/publisher.ts";
import { bearerToken } from "./credentials.ts";

export interface PublishRouteOptions {
  readonly publisher: Publisher;
  readonly verifier: TokenVerifier;
  readonly maxEventBytes: number;
}

export const publishAnswerSchema = {
  description: "Accepted: stored in history and sent to the streams",
  type: "object",
  required: ["id", "duplicate"],
  properties: {
    id: { type: "string", description: "The event id (the SSE `id:`)" },
    duplicate: { type: "boolean", description: "True when `id` repeats an earlier publish: nothing new was delivered" },
  },
} as const;

/** POST /publish: services push an event to users and topics with a publisher token. */
export async function publishRoute(app: FastifyInstance, options: PublishRouteOptions): Promise<void> {
  const { publisher, verifier, maxEventBytes } = options;
  const principals = new WeakMap<FastifyRequest, Principal>();
  app.post<{ Body: PublishRequest }>(
    "/publish",
    {
      bodyLimit: maxEventBytes,
      schema: {
        summary: "Publish an event to users and topics",
        tags: ["publishing"],
        security: [{ bearer: [] }],
        body: publishRequestSchema,
        response: { 202: publishAnswerSchema },
      },
      // The one check the queue sources use too; its error names the field at fault.
      validatorCompiler: () => checkBody,
      onRequest: authenticatePublisher(verifier, principals),
    },
    async (request, reply) => {
      refuseTargetsNotAllowed(principals.get(request)!.publishPatterns!, request.body);
      const result = await publisher.publish(toEventDraft(request.body, maxEventBytes), "http", principals.get(request)!.userId);
      return reply.code(202).send(result);
    },
  );
}

/** 403 unless the token's `publish` claim allows every recipient of the event; `where` names the event in a batch. */
export function refuseTargetsNotAllowed(patterns: readonly string[], body: PublishRequest, where = ""): void {
  const targets: PublishTarget[] = [
    ...(body.users ?? []).map((name) => ({ kind: "user" as const, name })),
    ...(body.topics ?? []).map((name) => ({ kind: "topic" as const, name })),
  ];
  const refused = targets.find((target) => !publishAllows(patterns, target));
  if (refused !== undefined) {
    throw new AuthError(403, "publish_not_allowed", `the token's \`publish\` claim does not allow "${describeTarget(refused)}"${where}`);
  }
}

/**
 * The onRequest hook of the publish routes. The token is checked before a byte of the body is
 * read: a client without a valid one holds nothing open and learns nothing of the schema.
 */
export function authenticatePublisher(verifier: TokenVerifier, principals: WeakMap<FastifyRequest, Principal>) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    try {
      principals.set(request, await publisherPrincipal(request, verifier));
    } catch (error) {
      closeAfterAnswer(request, reply);
      throw error;
    }
  };
}

async function publisherPrincipal(request: FastifyRequest, verifier: TokenVerifier): Promise<Principal> {
  // Only the header: a publisher token never travels in URLs or cookies.
  const token = bearerToken(request);
  if (token === undefined) throw new AuthError(401, "token_missing", "send the publisher token as Authorization: Bearer <token>");
  const principal = await verifier.verify(token);
  if (principal.publishPatterns === undefined) throw new AuthError(403, "publish_not_allowed", "this token has no `publish` claim, so it cannot publish");
  return principal;
}

/** A refused request's unread body is not read: on HTTP/1.1 the connection closes after the answer. */
function closeAfterAnswer(request: FastifyRequest, reply: FastifyReply): void {
  if (request.raw.httpVersionMajor === 1) reply.header("connection", "close");
}

function checkBody(body: unknown): { value: PublishRequest } | { error: Error } {
  try {
    return { value: parsePublishRequest(body) };
  } catch (error) {
    return { error: error as Error };
  }
}
