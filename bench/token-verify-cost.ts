import { randomBytes } from "node:crypto";
import { loadConfig } from "../src/config/config.ts";
import { createTokenVerifier } from "../src/auth/token-verifier.ts";
import { signGatewayToken } from "./servers/protocol.ts";

/**
 * The server CPU of token verification alone: `node bench/token-verify-cost.ts <secret> [count]`
 * verifies `count` distinct stream tokens (as the load workers sign them) with the gateway's own
 * verifier and prints the CPU ms per 1000. Run pinned to the server CPU by the benchmark.
 */
const [secret = "a".repeat(64), countArgument = "3000"] = process.argv.slice(2);
const count = Number(countArgument);
const config = loadConfig({ JWT_SECRET: secret }, () => randomBytes(32));
const verifier = createTokenVerifier(config.jwt, config.topicsClaim, { maxLifetimeSeconds: config.maxTokenLifetimeS });
const tokens = await Promise.all(Array.from({ length: count }, (_, index) => signGatewayToken(secret, { topics: ["*"] }, `u${index}`)));
// Warm-up: the first verifications import the key and compile the code paths.
for (const token of tokens.slice(0, 200)) await verifier.verify(token);
const before = process.cpuUsage();
for (const token of tokens) await verifier.verify(token);
const used = process.cpuUsage(before);
console.log(JSON.stringify({ cpuMsPer1k: ((used.user + used.system) / 1000 / count) * 1000 }));
