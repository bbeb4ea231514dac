import type { FastifyInstance } from "fastify";
import { AuthError } from "../auth/auth-error.ts";
import { describeTarget, publishAllows, type PublishTarget } from "../auth/topic-patterns.ts";
import type { TokenVerifier } from "../auth/token-verifier.ts";
import { parsePublishRequest, publishRequestSchema, toEventDraft, type PublishRequest } from "../events/publish-request.ts";
import type { Publisher } from "../events/publisher.ts";
import { bearerToken } from "./credentials.ts";

export interface PublishRouteOptions {
  readonly publisher: Publisher;
  readonly verifier: TokenVerifier;
  readonly maxEventBytes: number;
}

const publishAnswerSchema = {
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
    },
    async (request, reply) => {
      // Only the header: a publisher token never travels in URLs or cookies.
      const token = bearerToken(request);
      if (token === undefined) throw new AuthError(401, "token_missing", "send the publisher token as Authorization: Bearer <token>");
      const principal = await verifier.verify(token);
      const patterns = principal.publishPatterns;
      if (patterns === undefined) throw new AuthError(403, "publish_not_allowed", "this token has no `publish` claim, so it cannot publish");
      const targets: PublishTarget[] = [
        ...(request.body.users ?? []).map((name) => ({ kind: "user" as const, name })),
        ...(request.body.topics ?? []).map((name) => ({ kind: "topic" as const, name })),
      ];
      const refused = targets.find((target) => !publishAllows(patterns, target));
      if (refused !== undefined) {
        throw new AuthError(403, "publish_not_allowed", `the token's \`publish\` claim does not allow "${describeTarget(refused)}"`);
      }
      const result = await publisher.publish(toEventDraft(request.body, maxEventBytes), "http", principal.userId);
      return reply.code(202).send(result);
    },
  );
}

function checkBody(body: unknown): { value: PublishRequest } | { error: Error } {
  try {
    return { value: parsePublishRequest(body) };
  } catch (error) {
    return { error: error as Error };
  }
}
