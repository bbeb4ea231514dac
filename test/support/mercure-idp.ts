import { randomBytes } from "node:crypto";
import { signingKey } from "./signing-keys.ts";

/** The settings the Mercure key-set tests share: the hub's secrets, the provider, its keys. */
export const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
export const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
export const IDP = "https://login.example";
/** JWT_AUDIENCE, the /events audience. */
export const GATEWAY_AUDIENCE = "sse-gateway";
/** MERCURE_TOKEN_AUDIENCE, where a test sets it. */
export const HUB_AUDIENCE = "https://hub.example.com";

/** The provider's keys, one per algorithm family, and one outside the set under the RSA key's kid. */
export const idpKeys = { rsa: signingKey("RS256", "rsa-1"), ec: signingKey("ES256", "ec-1"), ed: signingKey("EdDSA", "ed-1"), stranger: signingKey("RS256", "rsa-1") };
/** A symmetric key in the served set: HS256 must never be verified with anything from the set. */
export const octSecret = randomBytes(32);
/** What the key server serves: the three public keys and the symmetric one. */
export const servedKeys = (): object[] => [idpKeys.rsa.jwk, idpKeys.ec.jwk, idpKeys.ed.jwk, { kty: "oct", k: octSecret.toString("base64url"), kid: "oct-1", alg: "HS256" }];
