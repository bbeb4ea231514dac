import { ECSClient, UpdateServiceCommand } from "@aws-sdk/client-ecs";
import { DescribeUsersCommand, ElastiCacheClient, ModifyUserCommand } from "@aws-sdk/client-elasticache";
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { signingKeyRotation, valkeyUserRotation, type ValkeyUsers } from "./rotation-kinds.ts";
import { runRotationStep, type RotationEvent, type RotationKind, type SecretVersions } from "./rotation-steps.ts";

/**
 * The rotation function's entry point in AWS Lambda: the steps against the real services. Its
 * environment (set by infra/secret-rotation.ts) names the kind of secret and the service.
 */
export async function handler(event: RotationEvent): Promise<void> {
  const env = process.env;
  const secrets = new SecretsManagerClient({});
  const ecs = new ECSClient({});
  await runRotationStep(event, secretVersions(secrets, event.SecretId), kindFrom(env), {
    async redeploy() {
      await ecs.send(new UpdateServiceCommand({ cluster: required(env, "CLUSTER_ARN"), service: required(env, "SERVICE_NAME"), forceNewDeployment: true }));
    },
  });
}

function kindFrom(env: NodeJS.ProcessEnv): RotationKind {
  if (env.ROTATION_KIND === "signing-key-list") return signingKeyRotation;
  if (env.ROTATION_KIND === "valkey-user") return valkeyUserRotation(valkeyUsers(new ElastiCacheClient({}), required(env, "VALKEY_USER_ID")));
  throw new Error(`ROTATION_KIND must be signing-key-list or valkey-user, not "${env.ROTATION_KIND}"`);
}

function secretVersions(client: SecretsManagerClient, secretId: string): SecretVersions {
  return {
    async stages() {
      const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      if (!described.RotationEnabled) throw new Error(`rotation is not enabled on ${secretId}`);
      return new Map(Object.entries(described.VersionIdsToStages ?? {}));
    },
    async value(versionId) {
      const found = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionId: versionId }));
      if (found.SecretString === undefined) throw new Error(`version ${versionId} holds no string`);
      return found.SecretString;
    },
    async putPending(versionId, value) {
      await client.send(new PutSecretValueCommand({ SecretId: secretId, ClientRequestToken: versionId, SecretString: value, VersionStages: ["AWSPENDING"] }));
    },
    async promote(versionId, fromVersionId) {
      await client.send(new UpdateSecretVersionStageCommand({
        SecretId: secretId, VersionStage: "AWSCURRENT", MoveToVersionId: versionId, RemoveFromVersionId: fromVersionId,
      }));
    },
  };
}

function valkeyUsers(client: ElastiCacheClient, userId: string): ValkeyUsers {
  return {
    async setPasswords(passwords) {
      await client.send(new ModifyUserCommand({ UserId: userId, AuthenticationMode: { Type: "password", Passwords: [...passwords] } }));
    },
    async status() {
      const { Users } = await client.send(new DescribeUsersCommand({ UserId: userId }));
      return Users?.[0]?.Status ?? "missing";
    },
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set`);
  return value;
}
