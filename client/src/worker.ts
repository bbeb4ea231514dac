// The SharedWorker that holds the streams of all tabs of an origin (see share.ts).
import { serveTabs } from "./index.ts";

serveTabs(self as unknown as Parameters<typeof serveTabs>[0]);
