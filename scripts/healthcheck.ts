// Container HEALTHCHECK: exits 0 when GET /healthz answers 200, 1 otherwise.
// Uses node itself so the image needs no curl; follows PORT, HOST and TLS_CERT
// the way the gateway does.
import http from "node:http";
import https from "node:https";

const TIMEOUT_MS = 2000;

/** A wildcard listen address is reached through loopback. */
function probeHost(host: string | undefined): string {
  if (host === undefined || host === "" || host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

const client = process.env.TLS_CERT ? https : http;
const request = client.get(
  {
    host: probeHost(process.env.HOST),
    port: Number(process.env.PORT ?? 8080),
    path: "/healthz",
    timeout: TIMEOUT_MS,
    // The certificate names the public host, not loopback: liveness is all this checks.
    rejectUnauthorized: false,
  },
  (response) => {
    response.resume();
    process.exit(response.statusCode === 200 ? 0 : 1);
  },
);
request.on("timeout", () => request.destroy(new Error("timed out")));
request.on("error", (error) => {
  process.stderr.write(`healthcheck: ${error.message}\n`);
  process.exit(1);
});
