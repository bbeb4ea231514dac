import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { startServerProcess, type RunningServer } from "./server-process.ts";

/**
 * nginx + nchan, configured to be measured fairly: one worker (like one Node process), enough
 * connections and open files for every stream, keep-alive publishers that are never cut off,
 * a large shared memory zone, and message history like the gateway's (1000 events, 10 min).
 */
const MODULE_CANDIDATES = [process.env.NCHAN_MODULE ?? "", "/usr/lib/nginx/modules/ngx_nchan_module.so", "/usr/share/nginx/modules/ngx_nchan_module.so"];

export const NCHAN_INSTALL_HINT =
  "nginx with the nchan module was not found: on Debian/Ubuntu `apt-get install nginx libnginx-mod-nchan` " +
  "(or set NGINX_BIN and NCHAN_MODULE to an nginx binary and ngx_nchan_module.so)";

export interface NchanInstall {
  readonly nginx: string;
  readonly module: string;
}

export function findNchan(): NchanInstall | undefined {
  const pathDirs = (process.env.PATH ?? "").split(delimiter).concat(["/usr/sbin", "/usr/local/sbin"]);
  const nginx = [process.env.NGINX_BIN ?? "", ...pathDirs.map((dir) => join(dir, "nginx"))].find((path) => path !== "" && existsSync(path));
  const module = MODULE_CANDIDATES.find((path) => path !== "" && existsSync(path));
  return nginx && module ? { nginx, module } : undefined;
}

export function nchanConfig(dir: string, module: string, port: number, heartbeatSeconds: number): string {
  return `load_module ${module};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 19500;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_body_buffer_size 128k;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  nchan_shared_memory_size 1024m;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location ~ ^/sub/(.+)$ {
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
      nchan_eventsource_ping_interval ${heartbeatSeconds};
    }
    location ~ ^/pub/(.+)$ {
      nchan_publisher http;
      nchan_channel_id $1;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 600s;
    }
    location = /healthz { return 200 "ok"; }
  }
}
`;
}

export async function startNchan(install: NchanInstall, port: number, heartbeatSeconds: number): Promise<RunningServer> {
  const dir = await mkdtemp(join(tmpdir(), "bench-nchan-"));
  // nginx's worker may run as an unprivileged user: it must reach the temp paths.
  await chmod(dir, 0o755);
  const configPath = join(dir, "nginx.conf");
  await writeFile(configPath, nchanConfig(dir, install.module, port, heartbeatSeconds));
  const server = await startServerProcess(install.nginx, ["-c", configPath, "-p", dir, "-e", join(dir, "error.log")], {}, port, "/healthz");
  return {
    ...server,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
