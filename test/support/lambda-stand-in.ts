import type { ServerResponse } from "node:http";
import { startStandInServer } from "./stand-in-server.ts";

/**
 * What the stand-in's function does with one event: return a value, fail like a Lambda function
 * (an error thrown in the handler), or take a while first.
 */
export type FunctionOutcome =
  | { readonly returns: unknown; readonly delayMs?: number }
  | { readonly throws: { readonly errorType: string; readonly errorMessage: string }; readonly delayMs?: number }
  | { readonly apiError: { readonly status: number; readonly type: string } };

/** Runs a handler as the function: what it returns is the result, what it throws a function error. */
export const handler = (code: (event: any) => unknown) => (event: any): FunctionOutcome => ({ returns: code(event) });

export interface LambdaStandIn {
  /** AUTH_LAMBDA_ENDPOINT for the gateway. */
  readonly endpoint: string;
  /** Each invocation: the function name from the path and the event it was given. */
  readonly invocations: Array<{ functionName: string; invocationType: string | undefined; event: any }>;
  handle(handler: (event: any) => FunctionOutcome): void;
  stop(): Promise<void>;
}

/**
 * AWS Lambda cannot run here, so this server answers the Lambda Invoke REST API as AWS does, for
 * the real @aws-sdk/client-lambda: POST /2015-03-31/functions/{name}/invocations with the event
 * as body; 200 with the returned value as body; a function error is still a 200, marked by the
 * X-Amz-Function-Error header with { errorType, errorMessage } as body; API errors carry
 * X-Amzn-ErrorType.
 */
export async function startLambdaStandIn(handler: (event: any) => FunctionOutcome): Promise<LambdaStandIn> {
  let current = handler;
  const invocations: LambdaStandIn["invocations"] = [];
  const server = await startStandInServer((request, text, response, later) => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(request.url ?? "");
    if (request.method !== "POST" || !match) {
      response.writeHead(404, { "x-amzn-errortype": "UnknownOperationException", "content-type": "application/json" });
      response.end(JSON.stringify({ message: "unknown operation" }));
      return;
    }
    const event = JSON.parse(text);
    invocations.push({ functionName: decodeURIComponent(match[1]!), invocationType: request.headers["x-amz-invocation-type"] as string | undefined, event });
    const outcome = invoke(current, event);
    later("delayMs" in outcome ? (outcome.delayMs ?? 0) : 0, () => answer(response, outcome));
  });
  return {
    endpoint: server.origin,
    invocations,
    handle(next) {
      current = next;
    },
    stop: () => server.stop(),
  };
}

/** A handler that throws fails the invocation, as in the Node.js runtime. */
function invoke(code: (event: any) => FunctionOutcome, event: unknown): FunctionOutcome {
  try {
    return code(event);
  } catch (error) {
    return { throws: { errorType: (error as Error).name, errorMessage: (error as Error).message } };
  }
}

function answer(response: ServerResponse, outcome: FunctionOutcome): void {
  if ("apiError" in outcome) {
    response.writeHead(outcome.apiError.status, { "x-amzn-errortype": outcome.apiError.type, "content-type": "application/json" });
    response.end(JSON.stringify({ Type: "User", message: `${outcome.apiError.type} from the stand-in` }));
  } else if ("throws" in outcome) {
    response.writeHead(200, { "x-amz-function-error": "Unhandled", "x-amz-executed-version": "$LATEST", "content-type": "application/json" });
    response.end(JSON.stringify({ ...outcome.throws, trace: [] }));
  } else {
    response.writeHead(200, { "x-amz-executed-version": "$LATEST", "content-type": "application/json" });
    response.end(JSON.stringify(outcome.returns));
  }
}
