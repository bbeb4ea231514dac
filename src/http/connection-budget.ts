import { readdirSync, readFileSync } from "node:fs";
import { ConfigError } from "../config/env-reader.ts";

/** Descriptors kept free of streams: health checks, metrics scrapes, publishers, Redis, SQS, JWKS. */
export const STREAM_RESERVE = 128;
/** Descriptors kept free of accepted connections: the gateway's own outgoing sockets and files. */
export const SOCKET_RESERVE = 32;

export interface ConnectionBudget {
  /** Streams this instance admits: MAX_CONNECTIONS, or less when the open-file limit is lower. */
  readonly streams: number;
  /** Accepted connections at most (the server's maxConnections); undefined when the limit is unknown. */
  readonly sockets: number | undefined;
  /** Set when MAX_CONNECTIONS had to be lowered: names both numbers. */
  readonly warning?: string;
}

/**
 * Fits MAX_CONNECTIONS into the process's open-file limit. Past that limit accept() fails and a
 * client gets no answer at all; below it, with a reserve, a stream beyond the cap gets 503 with
 * Retry-After and /healthz still answers.
 */
export function connectionBudget(maxConnections: number, openFileLimit: number | undefined, openAtStart: number): ConnectionBudget {
  if (openFileLimit === undefined) return { streams: maxConnections, sockets: undefined };
  const free = openFileLimit - openAtStart;
  const sockets = free - SOCKET_RESERVE;
  const fitting = free - STREAM_RESERVE;
  if (fitting < 1) {
    throw new ConfigError(
      `the open-file limit (${openFileLimit}, ${openAtStart} in use at start) leaves no room for streams after a reserve of ${STREAM_RESERVE}: raise it (ulimit -n, the ECS task's nofile ulimit) above ${openAtStart + STREAM_RESERVE}`,
    );
  }
  if (maxConnections <= fitting) return { streams: maxConnections, sockets };
  return {
    streams: fitting,
    sockets,
    warning: `MAX_CONNECTIONS is ${maxConnections}, but the open-file limit is ${openFileLimit} (${openAtStart} in use at start, ${STREAM_RESERVE} kept in reserve): this instance admits at most ${fitting} streams; raise the limit (ulimit -n, the ECS task's nofile ulimit) or lower MAX_CONNECTIONS`,
  };
}

/** The soft open-file limit of this process, from /proc/self/limits (Linux); undefined elsewhere. */
export function readOpenFileLimit(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
}

/** Descriptors open now (Linux); 0 where /proc is missing. */
export function countOpenFiles(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}
