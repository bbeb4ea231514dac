import { type Status, type StreamEvent, type StreamSetup } from "./stream.ts";
/** What a shared stream tells the tabs it serves: an event, or its status. */
export type RelayMessage = {
    readonly e: StreamEvent;
} | {
    readonly s: Status;
    readonly r?: string | undefined;
};
/**
 * One stream shared by several tabs (in a SharedWorker or a leader tab). It keeps the last
 * events so that a tab joining with an older last id gets what it missed, and tells a tab whose
 * last id is older than anything kept to refetch, as the gateway does for a history gap.
 */
export declare class Relay {
    #private;
    readonly stop: () => void;
    status: Status;
    constructor(setup: StreamSetup, fanOut: (message: RelayMessage) => void);
    /** What a tab that has every event up to `lastEventId` needs to be level with the others. */
    catchUp(lastEventId: string): RelayMessage[];
}
