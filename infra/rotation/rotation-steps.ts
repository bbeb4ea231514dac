/** The four steps Secrets Manager calls a rotation function with, one at a time. */
export type RotationStep = "createSecret" | "setSecret" | "testSecret" | "finishSecret";

export interface RotationEvent {
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly Step: RotationStep;
}

/** The secret's versions, as Secrets Manager keeps them (AWSCURRENT, AWSPENDING). */
export interface SecretVersions {
  /** Version ids and their stages. */
  stages(): Promise<ReadonlyMap<string, readonly string[]>>;
  value(versionId: string): Promise<string>;
  putPending(versionId: string, value: string): Promise<void>;
  /** Makes versionId AWSCURRENT, taking the stage from the version that holds it now. */
  promote(versionId: string, fromVersionId: string): Promise<void>;
}

/** What one kind of secret needs at each step besides storing values. */
export interface RotationKind {
  /** The value that follows the current one. */
  next(current: string): string;
  /** Makes the backend accept the pending value while it still accepts the current one. */
  apply(current: string, pending: string): Promise<void>;
  /** Fails unless the pending value works. */
  check(current: string, pending: string): Promise<void>;
}

/** Replaces the running tasks, so that they read the new value. */
export interface Redeployer {
  redeploy(): Promise<void>;
}

const CURRENT = "AWSCURRENT";
const PENDING = "AWSPENDING";

/**
 * One step of the rotation protocol. Secrets Manager may call a step again after a failure, so
 * every step is idempotent: a pending value is made once, a finished rotation is left alone.
 */
export async function runRotationStep(event: RotationEvent, versions: SecretVersions, kind: RotationKind, redeployer: Redeployer): Promise<void> {
  const stages = await versions.stages();
  const token = event.ClientRequestToken;
  const tokenStages = stages.get(token);
  if (tokenStages === undefined) throw new Error(`version ${token} of the secret does not exist`);
  if (tokenStages.includes(CURRENT)) return;
  if (!tokenStages.includes(PENDING)) throw new Error(`version ${token} is not pending rotation`);
  const currentId = [...stages].find(([, names]) => names.includes(CURRENT))?.[0];
  if (currentId === undefined) throw new Error("the secret has no current version");
  const current = await versions.value(currentId);
  switch (event.Step) {
    case "createSecret":
      // A retried createSecret finds its value already stored under the same token.
      if (await hasValue(versions, token)) return;
      await versions.putPending(token, kind.next(current));
      return;
    case "setSecret":
      await kind.apply(current, await versions.value(token));
      return;
    case "testSecret":
      await kind.check(current, await versions.value(token));
      return;
    case "finishSecret":
      await versions.promote(token, currentId);
      await redeployer.redeploy();
      return;
  }
}

async function hasValue(versions: SecretVersions, versionId: string): Promise<boolean> {
  try {
    await versions.value(versionId);
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === "ResourceNotFoundException") return false;
    throw error;
  }
}
