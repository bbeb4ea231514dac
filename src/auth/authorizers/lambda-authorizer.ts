import { InvokeCommand, LambdaClient, type InvocationResponse } from "@aws-sdk/client-lambda";
import { AuthorizerFailure, MAX_ANSWER_BYTES, type Authorizer, type AuthorizerDecision, type AuthorizerRequest } from "./authorizer.ts";
import { lambdaDecision, type AnswerKeys } from "./lambda-answer.ts";
import { authorizerEvent } from "./lambda-event.ts";

export interface LambdaAuthorizerOptions {
  readonly functionArn: string;
  readonly region: string;
  /** A Lambda-compatible endpoint instead of AWS's (an emulator). */
  readonly endpoint?: string;
  readonly keys: AnswerKeys;
  readonly nowSeconds?: () => number;
}

/** The error a Node authorizer raises (`callback("Unauthorized")`, `throw new Error("Unauthorized")`) to refuse: API Gateway answers 401. */
const UNAUTHORIZED = "Unauthorized";

/** AUTH_LAMBDA_ARN: invokes an API Gateway REQUEST authorizer function synchronously and reads its answer. */
export class LambdaAuthorizer implements Authorizer {
  readonly kind = "lambda";
  readonly #client: LambdaClient;
  readonly #options: LambdaAuthorizerOptions;

  constructor(options: LambdaAuthorizerOptions) {
    this.#options = options;
    // Credentials come from the standard chain (the ECS task role); the gate's timeout bounds retries.
    this.#client = new LambdaClient({ region: options.region, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  }

  async decide(request: AuthorizerRequest, signal: AbortSignal): Promise<AuthorizerDecision> {
    const event = authorizerEvent(request, this.#options.functionArn);
    let response: InvocationResponse;
    try {
      response = await this.#client.send(
        new InvokeCommand({ FunctionName: this.#options.functionArn, InvocationType: "RequestResponse", Payload: Buffer.from(JSON.stringify(event)) }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (signal.aborted) throw error;
      throw new AuthorizerFailure("invoke_error", `Invoke failed: ${(error as Error).name}`);
    }
    const payload = parsePayload(response.Payload);
    if (response.FunctionError !== undefined) return functionError(payload, response.FunctionError);
    const now = this.#options.nowSeconds?.() ?? Date.now() / 1000;
    return lambdaDecision(payload, event.methodArn as string, this.#options.keys, now);
  }

  close(): void {
    this.#client.destroy();
  }
}

function parsePayload(payload: Uint8Array | undefined): unknown {
  if (payload === undefined || payload.byteLength === 0) return undefined;
  if (payload.byteLength > MAX_ANSWER_BYTES) throw new AuthorizerFailure("invalid_answer", `the function's answer is larger than ${MAX_ANSWER_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw new AuthorizerFailure("invalid_answer", "the function's answer is not JSON");
  }
}

/** "Unauthorized" is the function's way to refuse; any other error means no decision. Its message may quote the credential: not logged. */
function functionError(payload: unknown, kind: string): AuthorizerDecision {
  const { errorMessage, errorType } = (typeof payload === "object" && payload !== null ? payload : {}) as { errorMessage?: unknown; errorType?: unknown };
  if (errorMessage === UNAUTHORIZED) return { allowed: false, status: 401, message: UNAUTHORIZED };
  const type = typeof errorType === "string" ? errorType.slice(0, 100) : "unknown";
  throw new AuthorizerFailure("function_error", `the function failed (${kind}, errorType ${type})`);
}
