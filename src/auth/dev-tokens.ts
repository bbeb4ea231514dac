import { SignJWT } from "jose";

export interface DevTokenClaims {
  readonly sub: string;
  readonly topics?: readonly string[];
  readonly publish?: readonly string[];
}

/** Signs an HS256 token with the development secret (one-process mode without JWT config). */
export async function signDevToken(secret: Uint8Array, claims: DevTokenClaims, ttlSeconds: number): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(secret);
}
