import { fileURLToPath } from "node:url";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { settingsFromContext } from "./deployment-settings.ts";
import { GatewayStack } from "./gateway-stack.ts";
import { SettingsError } from "./settings-error.ts";

/** The repository root, where the gateway's Dockerfile is. */
export const REPOSITORY_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Feature flags the stack relies on, whatever cdk.json or the command line say. */
const FEATURE_FLAGS = {
  // Flow logs to S3 get their bucket policy statements from the stack, not added by AWS behind
  // CloudFormation's back (and removed again by the next update of the policy).
  "@aws-cdk/aws-s3:createDefaultLoggingPolicy": true,
};

/**
 * Builds the CDK app. Under the CLI, context and the output directory come through the
 * environment; tests pass them here. Synthesis runs cdk-nag's AwsSolutions checks and fails on
 * any finding that is neither fixed nor acknowledged with a reason.
 */
export function createGatewayApp(context: Record<string, unknown> = {}, outdir?: string): { app: App; stack: GatewayStack } {
  const app = new App({ context: { ...context, ...FEATURE_FLAGS }, outdir });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const stack = new GatewayStack(app, "SseGateway", settingsFromContext(app.node, REPOSITORY_ROOT));
  return { app, stack };
}

if (import.meta.main) {
  try {
    createGatewayApp().app.synth();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    // What to change, in one line: a stack trace says nothing more about a wrong -c value.
    process.stderr.write(`sse-gateway CDK app: ${error.message}\n`);
    process.exit(1);
  }
}
