import { ReplyError } from "ioredis";
import { BusOutcomeUnknownError, BusRejectedError, BusUnavailableError } from "../event-bus.ts";

/**
 * Error replies that say "not now" rather than "never": loading a data set, a replica during a
 * failover, a script running too long, a primary without enough replicas, memory full (keys
 * expire), a failing snapshot, and refusals of the connection's user (ACL, credentials), which
 * hold for every event alike until an operator fixes them. Anything else Redis answers with an
 * error (a script error, a key of the wrong type, a refusal of the gateway's own scripts) is about
 * this very request and will be answered the same way again.
 */
const TRANSIENT_REPLIES = new Set([
  "LOADING",
  "READONLY",
  "BUSY",
  "MASTERDOWN",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "NOREPLICAS",
  "OOM",
  "MISCONF",
  "NOPERM",
  "NOAUTH",
  "WRONGPASS",
]);

/**
 * One failure taxonomy for every Redis call of the bus: an error reply is permanent unless its
 * code says otherwise; every other failure (connection lost, timeout, no connection) is transient.
 */
export function toBusError(what: string, error: unknown): BusUnavailableError | BusRejectedError {
  if (error instanceof BusUnavailableError || error instanceof BusRejectedError) return error;
  const message = `${what} in Redis failed: ${(error as Error).message}`;
  if (error instanceof ReplyError && !TRANSIENT_REPLIES.has(replyCode(error as Error))) return new BusRejectedError(message);
  // ioredis's commandTimeout: the command was written, and Redis runs it whenever it gets to it.
  if ((error as Error).message === "Command timed out") return new BusOutcomeUnknownError(message);
  return new BusUnavailableError(message);
}

function replyCode(error: Error): string {
  const end = error.message.indexOf(" ");
  return end < 0 ? error.message : error.message.slice(0, end);
}
