import { SignJWT } from "jose";

/**
 * How each server under test is subscribed to and published to. Pure request builders: the
 * load workers import them to build their own subscription paths (signing the gateway's tokens
 * on the load side, outside the server's measured CPU).
 */
export type ServerKind = "gateway" | "nchan" | "bare-node";

/** A stream follows either the shared broadcast topic or one user's private channel. */
export type Target = { readonly topic: string } | { readonly user: string };

export interface PublishRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Every gateway token in the benchmark expires after the run. */
const TOKEN_LIFETIME = "2h";

export function signGatewayToken(secret: string, claims: Record<string, unknown>, subject: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(TOKEN_LIFETIME)
    .sign(new TextEncoder().encode(secret));
}

/**
 * The request path of one stream. A gateway stream always belongs to a user (its token's
 * subject); broadcast streams get distinct users so per-user limits never interfere.
 */
export async function subscribePath(kind: ServerKind, target: Target, streamIndex: number, secret: string): Promise<string> {
  switch (kind) {
    case "gateway": {
      const user = "user" in target ? target.user : `u${streamIndex}`;
      const token = await signGatewayToken(secret, { topics: ["*"] }, user);
      const topic = "topic" in target ? `topic=${encodeURIComponent(target.topic)}&` : "";
      return `/events?${topic}access_token=${token}`;
    }
    case "nchan":
      return `/sub/${channelName(target)}`;
    case "bare-node":
      return `/events?channel=${channelName(target)}`;
  }
}

export function channelName(target: Target): string {
  return "topic" in target ? `topic-${target.topic}` : `user-${target.user}`;
}

/** `data` is the event payload; the gateway wraps it in its publish envelope. */
export function publishRequest(kind: ServerKind, target: Target, data: string, publisherToken: string): PublishRequest {
  switch (kind) {
    case "gateway": {
      const recipients = "topic" in target ? `"topics":${JSON.stringify([target.topic])}` : `"users":${JSON.stringify([target.user])}`;
      return {
        path: "/publish",
        headers: { "content-type": "application/json", authorization: `Bearer ${publisherToken}` },
        body: `{${recipients},"type":"bench","data":${data}}`,
      };
    }
    case "nchan":
      return { path: `/pub/${channelName(target)}`, headers: { "content-type": "application/json" }, body: data };
    case "bare-node":
      return { path: `/publish?channel=${channelName(target)}`, headers: { "content-type": "application/json" }, body: data };
  }
}
