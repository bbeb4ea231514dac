import { type StreamSetup, type StreamSink } from "./stream.ts";
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
export declare function share(mode: ShareMode, stream: SharedStream, workerUrl: string | URL): () => void;
/** The SharedWorker's side: one relay per stream key, for the tabs that joined it. */
export declare function serveTabs(scope: {
    onconnect: ((event: MessageEvent) => void) | null;
}): void;
