import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Principal, TokenVerifier } from "../auth/token-verifier.ts";
import { BusOutcomeUnknownError, BusUnavailableError, IdempotencyConflictError, type PublishResult } from "../bus/event-bus.ts";
import type { EventDraft } from "../events/event.ts";
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  parsePublishBatchRequest,
  publishBatchRequestSchema,
  toEventDraft,
  type PublishBatchRequest,
} from "../events/publish-request.ts";
import type { Publisher } from "../events/publisher.ts";
import { ApiError, errorResponseSchema, mayHaveBeenTaken, type ErrorCode } from "./errors.ts";
import { authenticatePublisher, publishAnswerSchema, refuseTargetsNotAllowed } from "./publish-route.ts";

export const PUBLISH_BATCH_PATH = "/publish/batch";

export interface PublishBatchRouteOptions {
  readonly publisher: Publisher;
  readonly verifier: TokenVerifier;
  readonly maxEventBytes: number;
  /** MAX_BATCH_RECIPIENTS: the recipients of all the batch's events together, at most. */
  readonly maxBatchRecipients: number;
}

/** What became of one event of a batch: accepted (as /publish answers), or an error answer's body. */
type EventOutcome = PublishResult | { readonly error: ErrorCode; readonly message: string };

const batchAnswerSchema = {
  type: "object",
  required: ["accepted", "results"],
  properties: {
    accepted: { type: "integer", description: "How many events were accepted" },
    results: {
      type: "array",
      description: "One entry per event, in the order sent: `{id, duplicate}` when accepted, else `{error, message}`",
      items: { anyOf: [publishAnswerSchema, { ...errorResponseSchema, $id: undefined }] },
    },
  },
} as const;

/**
 * POST /publish/batch: many events in one request, each to its own recipients, for the per-user
 * workload ("your upload is processed" to many users at once) where one request per event costs
 * more than the event. Checked whole before anything is published: a bad event, more recipients in
 * all than MAX_BATCH_RECIPIENTS (413) or a recipient the token does not allow refuses the batch
 * (400/403 naming the event). Then published in order:
 * 202 when every event was accepted; 207 with each event's outcome when some were not
 * (idempotency_conflict, or unavailable from the event on which the bus failed); 503 when the bus
 * failed on the first, so nothing was accepted.
 */
export async function publishBatchRoute(app: FastifyInstance, options: PublishBatchRouteOptions): Promise<void> {
  const { publisher, verifier, maxEventBytes, maxBatchRecipients } = options;
  const principals = new WeakMap<FastifyRequest, Principal>();
  const bodyLimit = Math.max(MAX_BATCH_BYTES, maxEventBytes);
  app.post<{ Body: PublishBatchRequest }>(
    PUBLISH_BATCH_PATH,
    {
      bodyLimit,
      schema: {
        summary: "Publish many events in one request, each to its own users and topics",
        description: `At most ${MAX_BATCH_EVENTS} events, a body of at most ${bodyLimit} bytes, and at most ${maxBatchRecipients} recipients (MAX_BATCH_RECIPIENTS: users and topics, each counted once per event) in all the events together; 413 batch_too_large above either.`,
        tags: ["publishing"],
        security: [{ bearer: [] }],
        body: publishBatchRequestSchema,
        response: { 202: batchAnswerSchema, 207: batchAnswerSchema },
      },
      validatorCompiler: () => checkBatchBody,
      onRequest: authenticatePublisher(verifier, principals),
      // Thrown on to the app's error handler, which answers every error in the one shape.
      errorHandler: (error) => {
        if (error.code !== "FST_ERR_CTP_BODY_TOO_LARGE") throw error;
        throw new ApiError("batch_too_large", `the batch body is larger than ${bodyLimit} bytes: send fewer events per batch`);
      },
    },
    async (request, reply) => {
      const principal = principals.get(request)!;
      const { events } = request.body;
      const drafts = events.map((event, index) => toEventDraft(event, maxEventBytes, `body.events[${index}]`));
      refuseTooManyRecipients(drafts, maxBatchRecipients);
      events.forEach((event, index) => refuseTargetsNotAllowed(principal.publishPatterns!, event, ` (body.events[${index}])`));
      const results = await publishInOrder(publisher, drafts, principal.userId);
      const accepted = results.filter((result) => !("error" in result)).length;
      return reply.code(accepted === results.length ? 202 : 207).send({ accepted, results });
    },
  );
}

/** 413 when the events name more recipients together than the cap (each a history write when published). */
function refuseTooManyRecipients(drafts: readonly EventDraft[], maxRecipients: number): void {
  const recipients = drafts.reduce((sum, draft) => sum + draft.channels.length, 0);
  if (recipients <= maxRecipients) return;
  throw new ApiError(
    "batch_too_large",
    `the batch's events name ${recipients} recipients together, more than MAX_BATCH_RECIPIENTS (${maxRecipients}): send them in several batches`,
  );
}

/** Publishes one after another, so that events to one user keep the batch's order. */
async function publishInOrder(publisher: Publisher, drafts: readonly EventDraft[], publisherId: string): Promise<EventOutcome[]> {
  const results: EventOutcome[] = [];
  for (const [index, draft] of drafts.entries()) {
    try {
      results.push(await publisher.publish(draft, "http", publisherId));
    } catch (error) {
      if (error instanceof IdempotencyConflictError) {
        results.push({ error: "idempotency_conflict", message: `${error.message}: publish other content under a new \`id\`` });
        continue;
      }
      // Nothing accepted yet: the whole request failed, the error handler answers 503.
      if (!(error instanceof BusUnavailableError) || index === 0) throw error;
      // A timed-out call may still be carried out: that event may have been taken, the later ones were not.
      const unknown = error instanceof BusOutcomeUnknownError;
      if (unknown) results.push({ error: "unavailable", message: mayHaveBeenTaken(error) });
      const message = `not accepted: the bus failed ${unknown ? "on" : "from"} body.events[${index}]${unknown ? "" : " on"} (${error.message}); retry these events`;
      results.push(...drafts.slice(unknown ? index + 1 : index).map(() => ({ error: "unavailable" as const, message })));
      break;
    }
  }
  return results;
}

function checkBatchBody(body: unknown): { value: PublishBatchRequest } | { error: Error } {
  try {
    return { value: parsePublishBatchRequest(body) };
  } catch (error) {
    return { error: error as Error };
  }
}
