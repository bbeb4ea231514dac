import { Relay, type RelayMessage } from "./relay.ts";
import { openStream, type StreamSetup, type StreamSink } from "./stream.ts";

/**
 * How tabs of one origin share a stream: "worker" (a SharedWorker holds it), "leader" (one tab,
 * elected with Web Locks, holds it and fans out over a BroadcastChannel), "off" (each connection
 * its own stream), "auto" (the first the browser can do).
 */
export type ShareMode = "auto" | "worker" | "leader" | "off";

/** A connection's stream, however it is shared. */
export interface SharedStream {
  /** Which stream (url, topics, user): tabs share only a stream with the same key. */
  readonly key: string;
  readonly setup: StreamSetup;
  readonly sink: StreamSink;
  /** The id of the last event the tab has, as of now. */
  lastEventId(): string;
}

/** What a tab asks the worker: join a stream, leave, or the answer to a token request. */
type TabMessage =
  | { readonly open: Omit<StreamSetup, "token"> & { readonly key: string } }
  | { readonly bye: 1 }
  | { readonly t: number; readonly token: string };

const WORKER_NAME = "sse-gateway-client";
const TOKEN_ANSWER_MS = 10_000;
const WORKER_ANSWER_MS = 3000;

export function share(mode: ShareMode, stream: SharedStream, workerUrl: string | URL): () => void {
  if (mode === "auto") {
    mode = typeof SharedWorker === "function" ? "worker" : navigator.locks && typeof BroadcastChannel === "function" ? "leader" : "off";
  }
  if (mode === "worker") return viaWorker(stream, workerUrl);
  if (mode === "leader") return viaLeader(stream);
  return openStream(stream.setup, stream.sink);
}

const deliver = (sink: StreamSink, message: RelayMessage) => ("e" in message ? sink.event(message.e) : sink.status(message.s, message.r));

/** Calls `join` now and again when the page comes back from the back/forward cache; `leave` when it goes. */
function whilePageShown(join: () => void, leave: () => void): () => void {
  const shown = (event: PageTransitionEvent) => event.persisted && join();
  addEventListener("pageshow", shown);
  addEventListener("pagehide", leave);
  join();
  return () => {
    removeEventListener("pageshow", shown);
    removeEventListener("pagehide", leave);
    leave();
  };
}

/**
 * A worker that cannot start (not found where a bundler moved it, refused by a CSP) falls back on
 * a leader tab. So does one that never answers: a tab that joins a worker still loading its
 * script is not always told that the load failed, and a live worker answers a join at once.
 */
function viaWorker(stream: SharedStream, workerUrl: string | URL): () => void {
  let stop: () => void;
  let silence: ReturnType<typeof setTimeout> | undefined;
  let settled = false;
  const fallBack = () => {
    if (settled) return;
    settled = true;
    clearTimeout(silence);
    stop();
    stop = viaLeader(stream);
  };
  try {
    const worker = new SharedWorker(workerUrl, { type: "module", name: WORKER_NAME });
    silence = setTimeout(fallBack, WORKER_ANSWER_MS);
    stop = joinWorker(stream, worker.port, () => clearTimeout(silence));
    worker.onerror = fallBack;
  } catch {
    stop = viaLeader(stream);
  }
  return () => {
    settled = true;
    clearTimeout(silence);
    stop();
  };
}

function joinWorker({ key, setup, sink, lastEventId }: SharedStream, port: MessagePort, answered: () => void): () => void {
  port.onmessage = async ({ data }: MessageEvent<RelayMessage | { t: number }>) => {
    answered();
    if ("t" in data) port.postMessage({ t: data.t, token: (await setup.token?.().catch(() => "")) ?? "" } satisfies TabMessage);
    else deliver(sink, data);
  };
  const { token: _, ...shared } = setup;
  const leave = whilePageShown(
    () => port.postMessage({ open: { ...shared, key, lastEventId: lastEventId() } } satisfies TabMessage),
    () => port.postMessage({ bye: 1 } satisfies TabMessage),
  );
  return () => {
    leave();
    port.close();
  };
}

function viaLeader({ key, setup, sink, lastEventId }: SharedStream): () => void {
  const name = `${WORKER_NAME} ${key}`;
  const channel = new BroadcastChannel(name);
  const me = Math.random();
  let relay: Relay | undefined;
  let resign: (() => void) | undefined;
  let closed = false;
  channel.onmessage = ({ data }: MessageEvent<RelayMessage & { to?: number; join?: string; from?: number }>) => {
    if (data.join !== undefined) relay?.catchUp(data.join).forEach((message) => channel.postMessage({ ...message, to: data.from }));
    else if (!relay && (data.to === undefined || data.to === me)) deliver(sink, data);
  };
  channel.postMessage({ join: lastEventId(), from: me });
  navigator.locks.request(name, () => {
    if (closed) return;
    // The lock is held, and this tab leads, until the promise settles: on close or when the tab goes.
    relay = new Relay({ ...setup, lastEventId: lastEventId() }, (message) => {
      deliver(sink, message);
      channel.postMessage(message);
    });
    return new Promise<void>((resolve) => (resign = resolve));
  });
  return () => {
    closed = true;
    relay?.stop();
    resign?.();
    channel.close();
  };
}

/** The SharedWorker's side: one relay per stream key, for the tabs that joined it. */
export function serveTabs(scope: { onconnect: ((event: MessageEvent) => void) | null }): void {
  const groups = new Map<string, { relay: Relay; tabs: Set<MessagePort> }>();
  const tokenAnswers = new Map<number, (token: string) => void>();
  let asked = 0;

  /** A token from the newest tab of the stream that answers in time. */
  const askToken = async (tabs: Set<MessagePort>) => {
    for (const tab of [...tabs].reverse()) {
      const question = ++asked;
      const token = await new Promise<string>((resolve) => {
        tokenAnswers.set(question, resolve);
        tab.postMessage({ t: question });
        setTimeout(resolve, TOKEN_ANSWER_MS, "");
      });
      tokenAnswers.delete(question);
      if (token) return token;
    }
    throw new Error("no tab gave a token");
  };

  scope.onconnect = ({ ports: [port] }) => {
    let joined: { key: string; tabs: Set<MessagePort> } | undefined;
    const leave = () => {
      const group = joined && groups.get(joined.key);
      joined?.tabs.delete(port!);
      if (group && !group.tabs.size) {
        group.relay.stop();
        groups.delete(joined!.key);
      }
      joined = undefined;
    };
    port!.onmessage = ({ data }: MessageEvent<TabMessage>) => {
      if ("t" in data) tokenAnswers.get(data.t)?.(data.token);
      else if ("bye" in data) leave();
      else {
        leave();
        const { key, lastEventId } = data.open;
        let group = groups.get(key);
        if (group?.relay.status === "closed") group = void groups.delete(key);
        if (group) {
          for (const message of group.relay.catchUp(lastEventId)) port!.postMessage(message);
          group.tabs.add(port!);
        } else {
          // The tab is in the set before the stream starts: it asks for the first token at once.
          const tabs = new Set([port!]);
          const token = () => askToken(tabs);
          group = { tabs, relay: new Relay({ ...data.open, token }, (message) => tabs.forEach((tab) => tab.postMessage(message))) };
          groups.set(key, group);
        }
        joined = { key, tabs: group.tabs };
      }
    };
  };
}
