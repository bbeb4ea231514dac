import assert from "node:assert/strict";
import { test } from "node:test";
import { HISTORY_MAX_EVENTS_CAP, loadConfig } from "../../src/config/config.ts";

const secret = () => new Uint8Array(32);

test("HISTORY_MAX_EVENTS above the cap is refused at start with a message naming the variable and the cap", () => {
  assert.equal(HISTORY_MAX_EVENTS_CAP, 10_000);
  assert.equal(loadConfig({ HISTORY_MAX_EVENTS: "10000" }, secret).history.maxEvents, 10_000);
  assert.throws(() => loadConfig({ HISTORY_MAX_EVENTS: "10001" }, secret), /HISTORY_MAX_EVENTS must be a whole number from 1 to 10000, got "10001"/);
});
