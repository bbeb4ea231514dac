import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { base64url, errors, UnsecuredJWT, type JWTPayload, type JWTVerifyOptions } from "jose";

/** The claim checks jose applies; the HS256 path passes the same ones. */
export type ClaimOptions = Pick<JWTVerifyOptions, "issuer" | "audience">;

/**
 * HS256 compact JWTs verified with a synchronous `node:crypto` HMAC. jose's `jwtVerify` runs
 * WebCrypto's HMAC as an async job: about 30 µs of CPU per token on a stream open, a sixth of
 * the open's cost, where this takes a few. It refuses what `jwtVerify` with
 * `algorithms: ["HS256"]` refuses, with the same jose error classes (test/unit/hs256-verifier
 * compares the two on generated tokens), and the claims are still checked by jose's own code.
 */
export class Hs256Verifier {
  readonly #keys: readonly KeyObject[];
  readonly #claims: ClaimOptions;

  /** `secrets` in rotation order: a token signed with any of them verifies. */
  constructor(secrets: readonly Uint8Array[], claims: ClaimOptions) {
    this.#keys = secrets.map((secret) => createSecretKey(secret));
    this.#claims = claims;
  }

  /** The verified claims; throws the jose error `jwtVerify` would throw for this token. */
  verify(token: string): JWTPayload {
    const parts = token.split(".");
    if (parts.length !== 3) throw new errors.JWSInvalid("Invalid Compact JWS");
    const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
    const header = parseHeader(encodedHeader);
    checkHeader(header);
    // jose signs and verifies the ASCII bytes of the two segments; anything else is malformed.
    const signingInput = `${encodedHeader}.${encodedPayload}`;
    if (!isAscii(signingInput)) throw new errors.JWSInvalid("The payload is not a valid base64url string");
    const signature = decodeSegment(encodedSignature, "signature");
    if (!this.#keys.some((key) => signatureMatches(key, signingInput, signature))) throw new errors.JWSSignatureVerificationFailed();
    // As in jwtVerify, an unencoded payload is refused only once the signature is known good.
    if (header.crit !== undefined && header.b64 === false) throw new errors.JWTInvalid("JWTs MUST NOT use unencoded payload");
    return claimsOf(encodedPayload, this.#claims);
  }
}

function parseHeader(encoded: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(base64url.decode(encoded)));
  } catch (cause) {
    throw new errors.JWSInvalid("JWS Protected Header is invalid", { cause });
  }
  if (!isPlainObject(header)) throw new errors.JWSInvalid("JWS Protected Header is invalid");
  return header;
}

/**
 * jose's header rules: `crit` may name only `b64` (its one recognised extension), which must then
 * be a boolean; `alg` must be the one allowed algorithm.
 */
function checkHeader(header: Record<string, unknown>): void {
  const { crit } = header;
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== "string" || name.length === 0)) {
      throw new errors.JWSInvalid('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
    }
    const unknown = crit.find((name) => name !== "b64");
    if (unknown !== undefined) throw new errors.JOSENotSupported(`Extension Header Parameter "${unknown}" is not recognized`);
    if (typeof header.b64 !== "boolean") throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
  }
  const { alg } = header;
  if (typeof alg !== "string" || alg === "") throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (alg !== "HS256") throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
}

function signatureMatches(key: KeyObject, signingInput: string, signature: Uint8Array): boolean {
  const expected = createHmac("sha256", key).update(signingInput, "latin1").digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

/**
 * The claims, checked by jose's claim-set validation: `UnsecuredJWT.decode` runs the same
 * `validateClaimsSet` as `jwtVerify` (exp, nbf, iat types, iss, aud) on the same payload bytes.
 * The header handed to it is a constant: the real one was checked above and the signature
 * verified, and the claim checks read no header field (no `typ` option is set).
 */
function claimsOf(encodedPayload: string, claims: ClaimOptions): JWTPayload {
  return UnsecuredJWT.decode(`${UNSECURED_HEADER}.${encodedPayload}.`, claims).payload;
}

const UNSECURED_HEADER = base64url.encode(JSON.stringify({ alg: "none" }));
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decodeSegment(encoded: string, label: string): Uint8Array {
  try {
    return base64url.decode(encoded);
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause });
  }
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[^\x00-\x7f]/.test(text);
}

/** What JSON.parse makes of an object, as opposed to an array, a string, a number or null. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
