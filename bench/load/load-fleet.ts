import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LatencyHistogram } from "../lib/histogram.ts";
import { pinned } from "../lib/pinning.ts";
import type { ServerKind } from "../servers/protocol.ts";
import type { Envelope, WorkerCommand, WorkerReply } from "./worker-protocol.ts";

const WORKER_PATH = fileURLToPath(new URL("./load-worker.ts", import.meta.url));
/** Streams per worker: below the 20000 open files a process may have here, with room to spare. */
export const STREAMS_PER_WORKER = 8_000;

export interface FleetReport {
  readonly open: number;
  readonly deliveries: number;
  readonly latency: LatencyHistogram;
  readonly lastReceiptMs: number;
  readonly cpuSeconds: number;
}

/** Load workers, each with its own range of loopback source addresses (see load-worker.ts). */
class Worker {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: WorkerReply) => void>();
  #nextId = 0;

  constructor(index: number) {
    const [command, args] = pinned("load", process.execPath, [WORKER_PATH, String(index)]);
    this.#child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.#child.on("message", (message: Envelope<WorkerReply>) => {
      this.#waiting.get(message.id)?.(message.body);
      this.#waiting.delete(message.id);
    });
  }

  request(body: WorkerCommand): Promise<WorkerReply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, resolve);
      this.#child.send({ id, body } satisfies Envelope<WorkerCommand>, (error) => error && reject(error));
    });
  }

  stop(): void {
    this.#child.kill();
  }
}

export class LoadFleet {
  readonly #workers: Worker[];
  #nextStream = 0;

  constructor(workerCount: number) {
    this.#workers = Array.from({ length: workerCount }, (_, index) => new Worker(index));
  }

  /** Opens `count` more streams spread evenly over the workers; resolves with how many failed. */
  async open(kind: ServerKind, port: number, secret: string, count: number, mode: "topic" | "user", topic = "bench"): Promise<{ failed: number; firstError?: string }> {
    const share = Math.ceil(count / this.#workers.length);
    const replies = await Promise.all(
      this.#workers.map((worker, index) => {
        const from = this.#nextStream + index * share;
        const own = Math.max(0, Math.min(share, count - index * share));
        return worker.request({ type: "open", kind, port, secret, from, count: own, mode, topic });
      }),
    );
    this.#nextStream += count;
    let failed = 0;
    let firstError: string | undefined;
    for (const reply of replies) {
      if (reply.type !== "opened") continue;
      failed += reply.failed;
      firstError ??= reply.firstError;
    }
    return firstError === undefined ? { failed } : { failed, firstError };
  }

  async reset(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.request({ type: "reset" })));
  }

  async report(): Promise<FleetReport> {
    const replies = await Promise.all(this.#workers.map((worker) => worker.request({ type: "report" })));
    const latency = new LatencyHistogram();
    let open = 0;
    let deliveries = 0;
    let lastReceiptMs = 0;
    let cpuSeconds = 0;
    for (const reply of replies) {
      if (reply.type !== "report") continue;
      open += reply.open;
      deliveries += reply.deliveries;
      lastReceiptMs = Math.max(lastReceiptMs, reply.lastReceiptMs);
      cpuSeconds += reply.cpuSeconds;
      latency.merge(new LatencyHistogram(reply.latencyCounts));
    }
    return { open, deliveries, latency, lastReceiptMs, cpuSeconds };
  }

  /** Closes `count` streams, taken evenly from the workers. */
  async close(count: number): Promise<void> {
    const share = Math.ceil(count / this.#workers.length);
    await Promise.all(this.#workers.map((worker) => worker.request({ type: "close", count: share })));
  }

  /** Closes every stream; the next streams opened are numbered from 0 again (users u0, u1, ...). */
  async closeAll(): Promise<void> {
    await this.close(Number.MAX_SAFE_INTEGER);
    this.#nextStream = 0;
  }

  stop(): void {
    for (const worker of this.#workers) worker.stop();
  }
}
