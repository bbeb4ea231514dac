import { readdirSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
/** A full garbage collection, for heap measurements (the test runner does not pass --expose-gc). */
export const collectGarbage = runInNewContext("gc") as () => void;

/** File descriptors this process holds now (Linux). */
export function openFileCount(): number {
  return readdirSync("/proc/self/fd").length;
}
