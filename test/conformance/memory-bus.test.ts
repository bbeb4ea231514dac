import { MemoryBus } from "../../src/bus/memory-bus.ts";
import { CONTRACT_CASES, busConformance } from "./bus-conformance.ts";
import { FaultyBus } from "./faulty-bus.ts";
import { STREAM_CASES } from "./stream-cases.ts";

// The memory bus has no backend to break: its faults are put in front of it (faulty-bus.ts).
busConformance({
  name: "memory bus",
  hooks: ["failCommands", "stallCommands", "saturate", "dropLive"],
  async create(retention) {
    const bus = new FaultyBus(new MemoryBus(retention));
    return { bus, faults: bus, ready: async () => undefined, close: () => bus.close() };
  },
}, [...CONTRACT_CASES, ...STREAM_CASES]);
