import { fileURLToPath } from "node:url";
import { App } from "aws-cdk-lib";
import { settingsFromContext } from "./deployment-settings.ts";
import { GatewayStack } from "./gateway-stack.ts";

/** The repository root, where the gateway's Dockerfile is. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Builds the CDK app; the CLI passes context and the output directory through the environment. */
export function createGatewayApp(context: Record<string, unknown> = {}): { app: App; stack: GatewayStack } {
  const app = new App({ context });
  const stack = new GatewayStack(app, "SseGateway", settingsFromContext(app.node, REPOSITORY_ROOT));
  return { app, stack };
}

if (import.meta.main) createGatewayApp().app.synth();
