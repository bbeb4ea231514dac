import type { GatewayConfig } from "./config/config.ts";
import { ConfigError } from "./config/env-reader.ts";

/**
 * One line, naming the variable to change, for the ways starting can fail on a valid
 * configuration: the port is taken, the host is not this machine's, TLS files that do not
 * load. Undefined for anything else (a bug: its stack trace is worth having).
 */
export function explainStartupError(error: unknown, config: GatewayConfig): string | undefined {
  // A limit of the machine the configuration does not fit (the open-file limit) names both.
  if (error instanceof ConfigError) return error.message;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return undefined;
  switch (code) {
    case "EADDRINUSE":
      return `PORT ${config.port} is already in use on HOST ${config.host} (EADDRINUSE): stop what listens there, or set PORT to a free port (0 picks one)`;
    case "EACCES":
      return `PORT ${config.port} needs privileges on HOST ${config.host} (EACCES): set PORT above 1023`;
    case "EADDRNOTAVAIL":
      return `HOST "${config.host}" is not an address of this machine (EADDRNOTAVAIL): set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `HOST "${config.host}" does not resolve to an address (${code}): set HOST to 127.0.0.1, 0.0.0.0 or one of this machine's addresses`;
  }
  if (code.startsWith("ERR_OSSL") || code.startsWith("ERR_SSL")) {
    return `TLS_CERT and TLS_KEY cannot be used together (${code}: ${(error as Error).message}): give a matching certificate and private key in PEM`;
  }
  return undefined;
}
