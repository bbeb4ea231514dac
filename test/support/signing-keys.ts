import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";

/** An identity provider's signing key: its private half signs, its public JWK goes in the key set. */
export interface SigningKey {
  readonly kid: string;
  /** The algorithm it signs with, as the key set's `alg` names it. */
  readonly alg: "RS256" | "ES256" | "EdDSA";
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly jwk: Record<string, unknown>;
}

export function signingKey(alg: SigningKey["alg"], kid: string): SigningKey {
  const { privateKey, publicKey } =
    alg === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  return { kid, alg, privateKey, publicKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg, use: "sig" } };
}

/** How a test token is signed: with a key pair's own algorithm, an HMAC secret, or not at all. */
export type Signature = { readonly key: SigningKey } | { readonly hmac: Uint8Array } | "unsigned";

const encode = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/**
 * A compact JWS with exactly this header and payload, whatever `alg` the header claims: the
 * signature is made the way `signature` says, so a header can lie about how it was signed.
 */
export function compactJws(header: unknown, payload: unknown, signature: Signature): string {
  const input = `${encode(header)}.${encode(payload)}`;
  if (signature === "unsigned") return `${input}.`;
  if ("hmac" in signature) return `${input}.${createHmac("sha256", signature.hmac).update(input).digest("base64url")}`;
  const { key } = signature;
  const bytes =
    key.alg === "RS256"
      ? sign("sha256", Buffer.from(input), key.privateKey)
      : key.alg === "ES256"
        ? sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" })
        : sign(null, Buffer.from(input), key.privateKey);
  return `${input}.${bytes.toString("base64url")}`;
}
