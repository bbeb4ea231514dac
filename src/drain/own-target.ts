/** This task as its target group knows it: its IPv4 address (awsvpc networking) and the gateway's port. */
export interface OwnTarget {
  readonly id: string;
  readonly port: number;
}

/** The metadata answered, but not with an address: retrying will not help. */
export class MetadataShapeError extends Error {
  override readonly name = "MetadataShapeError";
}

const METADATA_TIMEOUT_MS = 3000;
const IPV4 = /^(\d{1,3}\.){3}\d{1,3}$/;

/**
 * Reads this container's address from the ECS task metadata endpoint v4 (`${ECS_CONTAINER_METADATA_URI_V4}`
 * answers the container's metadata, whose Networks list its IPv4 addresses).
 */
export async function readOwnTarget(metadataUri: string, port: number, signal: AbortSignal): Promise<OwnTarget> {
  const response = await fetch(metadataUri, { signal: AbortSignal.any([signal, AbortSignal.timeout(METADATA_TIMEOUT_MS)]) });
  if (!response.ok) throw new Error(`the task metadata endpoint answered ${response.status}`);
  const metadata: unknown = await response.json().catch(() => undefined);
  const address = ipv4Of(metadata);
  if (address === undefined) throw new MetadataShapeError("the task metadata lists no IPv4 address under Networks[].IPv4Addresses (awsvpc networking is needed)");
  return { id: address, port };
}

function ipv4Of(metadata: unknown): string | undefined {
  const networks = (metadata as { Networks?: unknown } | undefined)?.Networks;
  if (!Array.isArray(networks)) return undefined;
  for (const network of networks) {
    const addresses = (network as { IPv4Addresses?: unknown } | null)?.IPv4Addresses;
    const first = Array.isArray(addresses) ? addresses.find((address) => typeof address === "string" && IPV4.test(address)) : undefined;
    if (first !== undefined) return first as string;
  }
  return undefined;
}
