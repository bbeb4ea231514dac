import { CfnParameter, Stack, aws_ecs as ecs, aws_secretsmanager as secretsmanager } from "aws-cdk-lib";
import { Construct } from "constructs";

/**
 * How the gateway checks tokens. "secret": HS256 with a key kept in Secrets Manager (generated
 * unless an existing secret is named). "jwks": tokens of an identity provider, checked against its
 * JWKS; values left out become CloudFormation parameters.
 */
export type JwtConfiguration =
  | { readonly kind: "secret"; readonly secretArn?: string }
  | { readonly kind: "jwks"; readonly jwksUrl?: string; readonly issuer?: string; readonly audience?: string };

/** The container environment and ECS secrets that carry one JwtConfiguration. */
export class JwtSettings extends Construct {
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
  /** The generated or named secret, when the configuration uses one. */
  readonly secret?: secretsmanager.ISecret;
  /** Whether the stack made the secret (and so rotates it); a named one is its owner's to rotate. */
  readonly generated: boolean;

  constructor(scope: Construct, id: string, configuration: JwtConfiguration) {
    super(scope, id);
    this.generated = configuration.kind === "secret" && configuration.secretArn === undefined;
    if (configuration.kind === "secret") {
      this.secret = configuration.secretArn === undefined
        ? new secretsmanager.Secret(this, "SigningKey", {
          description: "HS256 key of the SSE gateway (JWT_SECRET)",
          generateSecretString: { passwordLength: 64, excludePunctuation: true },
        })
        : secretsmanager.Secret.fromSecretCompleteArn(this, "SigningKey", configuration.secretArn);
      this.environment = {};
      this.secrets = { JWT_SECRET: ecs.Secret.fromSecretsManager(this.secret) };
      return;
    }
    this.environment = {
      JWKS_URL: configuration.jwksUrl ?? this.parameter("JwksUrl", "URL of the JSON Web Key Set that signs tokens"),
      JWT_ISSUER: configuration.issuer ?? this.parameter("JwtIssuer", "Expected iss claim of tokens"),
      JWT_AUDIENCE: configuration.audience ?? this.parameter("JwtAudience", "Expected aud claim of tokens"),
    };
    this.secrets = {};
  }

  private parameter(name: string, description: string): string {
    // Parameters live at stack level so their names stay short in `cdk deploy --parameters`.
    return new CfnParameter(Stack.of(this), name, { type: "String", minLength: 1, description }).valueAsString;
  }
}
