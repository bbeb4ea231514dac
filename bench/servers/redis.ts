import { startServerProcess, type RunningServer } from "./server-process.ts";

/** A redis-server of the harness's own on a loopback port, without persistence. */
export function startRedis(port: number): Promise<RunningServer> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"];
  return startServerProcess("redis-server", args, {}, port, "tcp");
}
