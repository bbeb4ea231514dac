import { isAscii } from "node:buffer";
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { base64url, errors, type JWTPayload } from "jose";

/** The claim checks of the gateway's HS256 tokens, as jose's `jwtVerify` options name them. */
export interface ClaimOptions {
  readonly issuer?: string;
  readonly audience?: string;
}

/**
 * HS256 compact JWTs verified with a synchronous `node:crypto` HMAC. jose's `jwtVerify` runs
 * WebCrypto's HMAC as an async job, and its generic header and claim code around it: together
 * a sixth of a stream open's CPU. This gives the verdict `jwtVerify` with `algorithms:
 * ["HS256"]` gives, as the same jose error classes (test/unit/hs256-verifier compares the two
 * on thousands of generated and damaged tokens): the same header rules, a constant-time
 * signature comparison, and the same claim checks (`exp`, `nbf`, `iat`, `iss`, `aud`).
 */
export class Hs256Verifier {
  readonly #keys: readonly KeyObject[];
  readonly #claims: ClaimOptions;
  /** Header segments that passed the checks (tokens of one issuer share one or two). */
  readonly #goodHeaders = new Map<string, CheckedHeader>();

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
    const header = this.#header(encodedHeader);
    // jose signs and verifies the ASCII bytes of the two segments; anything else is malformed.
    const signingInput = `${encodedHeader}.${encodedPayload}`;
    if (NON_ASCII.test(encodedPayload)) throw new errors.JWSInvalid("The payload is not a valid base64url string");
    const signature = decodeSegment(encodedSignature, "signature");
    if (!this.#keys.some((key) => signatureMatches(key, signingInput, signature))) throw new errors.JWSSignatureVerificationFailed();
    // As in jwtVerify, an unencoded payload is refused only once the signature is known good.
    if (header.unencodedPayload) throw new errors.JWTInvalid("JWTs MUST NOT use unencoded payload");
    return checkClaims(decodeSegment(encodedPayload, "payload"), this.#claims);
  }

  #header(encoded: string): CheckedHeader {
    const known = this.#goodHeaders.get(encoded);
    if (known) return known;
    const header = checkHeader(parseHeader(encoded));
    // Bounded: headers made up to churn it only cost their own parse.
    if (this.#goodHeaders.size >= MAX_HEADERS) this.#goodHeaders.clear();
    this.#goodHeaders.set(encoded, header);
    return header;
  }
}

const MAX_HEADERS = 64;
const NON_ASCII = /[^\x00-\x7f]/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

interface CheckedHeader {
  /** `b64: false` under `crit`: refused, but only once the signature verified (as jose does). */
  readonly unencodedPayload: boolean;
}

function parseHeader(encoded: string): Record<string, unknown> {
  let header: unknown;
  try {
    header = JSON.parse(utf8(decodeBase64url(encoded)));
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
function checkHeader(header: Record<string, unknown>): CheckedHeader {
  const { crit } = header;
  if (crit !== undefined) {
    if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== "string" || name.length === 0)) {
      throw new errors.JWSInvalid('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
    }
    // In crit's order, as jose reads it: an unknown name, or b64 named but absent, ends the check.
    for (const name of crit) {
      if (name !== "b64") throw new errors.JOSENotSupported(`Extension Header Parameter "${name}" is not recognized`);
      if (!Object.hasOwn(header, "b64")) throw new errors.JWSInvalid('Extension Header Parameter "b64" is missing');
    }
    if (typeof header.b64 !== "boolean") throw new errors.JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
  }
  const { alg } = header;
  if (typeof alg !== "string" || alg === "") throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (alg !== "HS256") throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  return { unencodedPayload: crit !== undefined && header.b64 === false };
}

function signatureMatches(key: KeyObject, signingInput: string, signature: Uint8Array): boolean {
  const expected = createHmac("sha256", key).update(signingInput, "latin1").digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

/**
 * jose's claim-set checks for these options, in its order: a JSON object; `iss` and `aud`
 * present and accepted when configured; `iat`, `nbf` and `exp` numbers when present; not before
 * `nbf`; not at or after `exp`. No clock tolerance, as the verifier gave jose none.
 */
function checkClaims(bytes: Uint8Array, { issuer, audience }: ClaimOptions): JWTPayload {
  let claims: unknown;
  try {
    claims = JSON.parse(utf8(bytes));
  } catch (cause) {
    throw new errors.JWTInvalid("JWT Claims Set must be a top-level JSON object", { cause });
  }
  if (!isPlainObject(claims)) throw new errors.JWTInvalid("JWT Claims Set must be a top-level JSON object");
  if (issuer !== undefined && !Object.hasOwn(claims, "iss")) throw claimFailed(claims, "iss", 'missing required "iss" claim', "missing");
  if (audience !== undefined && !Object.hasOwn(claims, "aud")) throw claimFailed(claims, "aud", 'missing required "aud" claim', "missing");
  if (issuer !== undefined && claims.iss !== issuer) throw claimFailed(claims, "iss", 'unexpected "iss" claim value');
  if (audience !== undefined && !hasAudience(claims.aud, audience)) throw claimFailed(claims, "aud", 'unexpected "aud" claim value');
  const now = Math.floor(Date.now() / 1000);
  numericDate(claims, "iat");
  const nbf = numericDate(claims, "nbf");
  if (nbf !== undefined && nbf > now) throw claimFailed(claims, "nbf", '"nbf" claim timestamp check failed');
  const exp = numericDate(claims, "exp");
  if (exp !== undefined && exp <= now) throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, "exp", "check_failed");
  return claims;
}

function hasAudience(aud: unknown, audience: string): boolean {
  return typeof aud === "string" ? aud === audience : Array.isArray(aud) && aud.includes(audience);
}

function numericDate(claims: Record<string, unknown>, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== "number") throw claimFailed(claims, claim, `"${claim}" claim must be a number`, "invalid");
  return value;
}

function claimFailed(claims: Record<string, unknown>, claim: string, message: string, reason = "check_failed"): errors.JWTClaimValidationFailed {
  return new errors.JWTClaimValidationFailed(message, claims, claim, reason);
}

function decodeSegment(encoded: string, label: string): Uint8Array {
  try {
    return decodeBase64url(encoded);
  } catch (cause) {
    throw new errors.JWSInvalid(`Failed to base64url decode the ${label}`, { cause });
  }
}

/**
 * jose's base64url decoding. What tokens are made of (the alphabet, no padding, a length a
 * decoder accepts) takes Buffer's fast decoder, which gives the same bytes for it; anything else
 * (padding, white space, a wrong length or character) goes to jose's own decoder and its verdict.
 */
function decodeBase64url(encoded: string): Uint8Array {
  if (encoded.length % 4 !== 1 && BASE64URL.test(encoded)) return Buffer.from(encoded, "base64url");
  return base64url.decode(encoded);
}

/** Strict UTF-8, as jose decodes (a BOM dropped, malformed bytes refused); ASCII needs no decoder. */
function utf8(bytes: Uint8Array): string {
  return isAscii(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1") : strictUtf8.decode(bytes);
}

/** What JSON.parse makes of an object, as opposed to an array, a string, a number or null. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
