import { fileURLToPath } from "node:url";
import { App } from "aws-cdk-lib";
import { settingsFromContext } from "./deployment-settings.ts";
import { GatewayStack } from "./gateway-stack.ts";

/** The repository root, where the gateway's Dockerfile is. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Builds the CDK app. Under the CLI, context and the output directory come through the
 * environment; tests pass them here.
 */
export function createGatewayApp(context: Record<string, unknown> = {}, outdir?: string): { app: App; stack: GatewayStack } {
  const app = new App({ context, outdir });
  const stack = new GatewayStack(app, "SseGateway", settingsFromContext(app.node, REPOSITORY_ROOT));
  return { app, stack };
}

if (import.meta.main) createGatewayApp().app.synth();
