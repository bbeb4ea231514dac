import assert from "node:assert/strict";
import { after } from "node:test";
import { SignJWT } from "jose";
import type { DestinationStream } from "pino";
import { loggerOptions } from "../../src/telemetry/logger.ts";

/**
 * Every token this test process mints, and every log line its gateways write, meet here: the
 * signature of a minted token must never appear in a log line. Loaded by the gateway helpers, it
 * records each token jose signs in this process (test support and tests alike) and, after the
 * last test of the file, fails the file if any line held one. Child gateways' output comes
 * through `auditOutput`.
 */
const signatures = new Set<string>();
const signatureLengths = new Set<number>();
const leaks: string[] = [];
let linesChecked = 0;

const sign = SignJWT.prototype.sign;
SignJWT.prototype.sign = async function (this: SignJWT, ...args: Parameters<SignJWT["sign"]>) {
  const minted = await sign.apply(this, args);
  recordToken(minted);
  return minted;
};

export function recordToken(token: string): void {
  const signature = token.split(".")[2];
  if (signature === undefined || signature.length < 16) return;
  signatures.add(signature);
  signatureLengths.add(signature.length);
}

/** The minted signatures a log line holds, as written or percent-decoded. */
export function leakedSignatures(line: string): string[] {
  const found = new Set<string>();
  for (const text of [line, safelyDecoded(line)]) {
    for (const [run] of text.matchAll(/[A-Za-z0-9_-]{16,}/g)) {
      for (const length of signatureLengths) {
        for (let at = 0; at + length <= run.length; at++) {
          const window = run.slice(at, at + length);
          if (signatures.has(window)) found.add(window);
        }
      }
    }
  }
  return [...found];
}

function safelyDecoded(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

/** Checks one line (or several) of log output. */
export function auditOutput(text: string): void {
  for (const line of text.split("\n")) {
    if (line === "") continue;
    linesChecked++;
    if (leakedSignatures(line).length > 0) leaks.push(line.slice(0, 500));
  }
}

/** For output that arrives in chunks (a child's stdout): checks whole lines only. */
export function lineAuditor(): (chunk: string) => void {
  let partial = "";
  return (chunk) => {
    const text = partial + chunk;
    const end = text.lastIndexOf("\n");
    partial = text.slice(end + 1);
    if (end >= 0) auditOutput(text.slice(0, end));
  };
}

/** Lines checked so far in this process, for tests that show the audit sees their logs. */
export function auditedLineCount(): number {
  return linesChecked;
}

/** Lines captured from in-process gateways, kept for tests that look at them (the last few thousand). */
const recent: string[] = [];

export function recentLogLines(): readonly string[] {
  return recent;
}

const sink: DestinationStream = {
  write(line: string) {
    auditOutput(line);
    recent.push(line);
    if (recent.length > 5000) recent.splice(0, 1000);
  },
};

/**
 * The logger of every in-process test gateway: production options into the audit, at debug, the
 * level at which every request is logged (at info only failing ones are), so the audit sees them all.
 */
export function auditedLogger() {
  return loggerOptions("debug", sink);
}

after(() => {
  assert.deepEqual(leaks.slice(0, 5), [], `log lines held a token minted by this test file (${linesChecked} lines checked)`);
});
