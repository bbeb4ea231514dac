import { randomBytes } from "node:crypto";
import { jwtSecretsFrom } from "../../src/config/config.ts";
import type { RotationKind } from "./rotation-steps.ts";
import { nextSigningKeys } from "./signing-key-list.ts";

/** 48 random bytes as 64 URL-safe characters: no comma, quote, slash or @ (ElastiCache refuses those). */
export function freshKey(): string {
  return randomBytes(48).toString("base64url");
}

/** JWT_SECRET as a signing key list; nothing outside Secrets Manager holds it. */
export const signingKeyRotation: RotationKind = {
  next: (current) => nextSigningKeys(current, freshKey),
  async apply() {},
  async check(current, pending) {
    // The gateway must accept the value, and each value must hold the other's signing key.
    const [before, after] = [current, pending].map((value) => jwtSecretsFrom(value).map((key) => Buffer.from(key).toString()));
    if (!after!.includes(before![0]!) || !before!.includes(after![0]!)) {
      throw new Error("the pending JWT_SECRET and the current one do not share their signing keys");
    }
  },
};

/** The ElastiCache calls the Valkey user rotation needs. */
export interface ValkeyUsers {
  /** Sets the user's passwords (ElastiCache keeps up to two). */
  setPasswords(passwords: readonly string[]): Promise<void>;
  /** "active" once a change has been applied to the cache. */
  status(): Promise<string>;
}

interface Credentials {
  readonly username: string;
  readonly password: string;
}

const ACTIVE_WAIT_MS = 120_000;
const ACTIVE_POLL_MS = 5000;

/**
 * The gateway's Valkey password. The user keeps the current password next to the new one, so
 * tasks started before the rotation still log in (after a failover, say) until they are replaced.
 */
export function valkeyUserRotation(users: ValkeyUsers, sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))): RotationKind {
  return {
    next: (current) => JSON.stringify({ ...credentialsFrom(current), password: freshKey() }),
    async apply(current, pending) {
      await users.setPasswords([credentialsFrom(current).password, credentialsFrom(pending).password]);
    },
    async check() {
      for (let waited = 0; ; waited += ACTIVE_POLL_MS) {
        const status = await users.status();
        if (status === "active") return;
        if (waited >= ACTIVE_WAIT_MS) throw new Error(`the Valkey user is still "${status}" after ${ACTIVE_WAIT_MS / 1000} s`);
        await sleep(ACTIVE_POLL_MS);
      }
    },
  };
}

function credentialsFrom(value: string): Credentials {
  const parsed = JSON.parse(value) as Partial<Credentials>;
  if (typeof parsed.username !== "string" || typeof parsed.password !== "string") {
    throw new Error("the Valkey secret must hold a username and a password");
  }
  return { username: parsed.username, password: parsed.password };
}
