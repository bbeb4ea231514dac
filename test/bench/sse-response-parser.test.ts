import assert from "node:assert/strict";
import { test } from "node:test";
import { SseResponseParser } from "../../bench/load/sse-response-parser.ts";

const EVENTS = ['{"t":1.5,"pad":"a"}', '{"t":2.25}', "line one\nline two"];

function sseBody(): string {
  return EVENTS.map((data) => `id: 1-0\nevent: bench\n${data.split("\n").map((line) => `data: ${line}`).join("\n")}\n\n`).join(":\n\n");
}

function chunked(body: string, pieces: number): string {
  let out = "";
  const size = Math.ceil(body.length / pieces);
  for (let at = 0; at < body.length; at += size) {
    const piece = body.slice(at, at + size);
    out += `${piece.length.toString(16)}\r\n${piece}\r\n`;
  }
  return `${out}0\r\n\r\n`;
}

/** Feeds the response split at `cut` and returns what the parser reported. */
function parse(response: string, cuts: readonly number[]): { status: number | undefined; data: string[] } {
  const seen = { status: undefined as number | undefined, data: [] as string[] };
  const parser = new SseResponseParser({ onHead: (status) => (seen.status = status), onData: (data) => seen.data.push(data) });
  let from = 0;
  for (const cut of [...cuts, response.length]) {
    parser.push(response.slice(from, cut));
    from = cut;
  }
  return seen;
}

test("reads every event of a close-delimited body, however the reads are split", () => {
  const response = `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n${sseBody()}`;
  for (let cut = 0; cut <= response.length; cut++) {
    const seen = parse(response, [cut]);
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.data, EVENTS, `split at ${cut}`);
  }
});

test("reads every event of a chunked body, with chunk and read boundaries anywhere", () => {
  for (const pieces of [1, 3, 7]) {
    const response = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(sseBody(), pieces)}`;
    for (let cut = 0; cut <= response.length; cut += 3) {
      assert.deepEqual(parse(response, [cut, Math.min(response.length, cut + 5)]).data, EVENTS, `${pieces} chunks, split at ${cut}`);
    }
  }
});

test("reports the status of a refused stream", () => {
  const seen = parse('HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}', []);
  assert.equal(seen.status, 401);
  assert.deepEqual(seen.data, []);
});
