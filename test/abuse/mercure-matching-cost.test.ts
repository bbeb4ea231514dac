import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { matcher, selector, type Selector } from "../../src/mercure/selectors.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

/**
 * Selectors come from subscribers, anonymous ones too, and every update on an instance is tested
 * against every template and URL Pattern subscription there: what one test costs must stay
 * within a small multiple of what an ordinary selector costs, whatever the subscriber wrote.
 * (A URL Pattern `https://example.com/*e*e*e*e*e*e*e*e*e*e*e*eQ` took 31 s on one 40-character
 * topic, holding every stream of the instance; 1,500 adjacent `{a}` took 28 ms per update.)
 */

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";

describe("what a subscriber's selectors cost the hub", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_ANONYMOUS: "1" });
  });
  after(() => gw.stop());

  async function subscribeStatus(query: string): Promise<{ status: number; body: string }> {
    const controller = new AbortController();
    const response = await fetch(`${gw.url}/.well-known/mercure?${query}`, { signal: controller.signal });
    const body = response.status === 200 ? "" : await response.text();
    controller.abort();
    return { status: response.status, body };
  }

  const pattern = (text: string) => `match_urlpattern=${encodeURIComponent(text)}`;
  const topic = (text: string) => `topic=${encodeURIComponent(text)}`;

  it("URL Patterns whose matching could backtrack are refused with 400, naming the rule", async () => {
    const crafted = [
      `https://example.com/${"*e".repeat(12)}Q`, // wildcards that overlap: O(n^12)
      `https://${"*.".repeat(10)}example.com/x`,
      "https://example.com/:x((?:a+)+b)", // a regular expression group
      "https://example.com/:a-:b-:c-:d-:e-:f-:g-:h", // segment groups in one segment
      `https://example.com/${"{a}?".repeat(20)}b`,
      "https://example.com/books?:a&:b&:c&:d&:e&:f",
      "https://example.com/*/books/*",
    ];
    for (const text of crafted) {
      const answer = await subscribeStatus(pattern(text));
      assert.equal(answer.status, 400, `${text}: ${answer.status} ${answer.body}`);
      assert.match(JSON.parse(answer.body).error, /^invalid_request$/);
      assert.match(JSON.parse(answer.body).message, /URL Pattern/);
    }
  });

  it("the URL Patterns subscribers write keep working", async () => {
    for (const text of ["https://example.com/books/:id", "https://example.com/books/*", "/books/:id", "https://:tenant.example.com/users/:uid/books/:bid", "https://*.example.com/books/:id", "/books{/:id}", "*"]) {
      const answer = await subscribeStatus(pattern(text));
      assert.equal(answer.status, 200, `${text}: ${answer.status} ${answer.body}`);
    }
  });

  it("URI Templates longer than a topic or with more than 16 variables are refused with 400", async () => {
    for (const text of [`https://example.com/${"{a}".repeat(17)}`, `https://example.com/{${Array.from({ length: 17 }, (_, i) => `v${i}`).join(",")}}`, `https://example.com/${"x".repeat(2048)}{id}`]) {
      const answer = await subscribeStatus(topic(text));
      assert.equal(answer.status, 400, `${text.slice(0, 60)}: ${answer.status}`);
      assert.match(JSON.parse(answer.body).message, /URI Template|2048/);
    }
    assert.equal((await subscribeStatus(topic(`https://example.com/${"{+a*}".repeat(16)}`))).status, 200);
  });

  it("the costliest template accepted costs a small multiple of an ordinary one, on short and long topics", () => {
    const ordinary = selector("https://example.com/{+path}");
    const costliest = [
      selector(`${"{+a*}".repeat(16)}!`),
      selector(`${"{a}".repeat(16)}!`),
      selector(`{+${Array.from({ length: 16 }, (_, i) => `v${i}`).join(",")}}!`),
      selector(`${"{;a*}".repeat(16)}!`),
    ];
    for (const topicText of ["https://example.com/users/1234567/notifications/98765432", `https://example.com/${"a,".repeat(1014)}`]) {
      const perTest = (candidate: { matches(topic: string): boolean }) => {
        const rounds = 200;
        const started = process.hrtime.bigint();
        for (let round = 0; round < rounds; round++) candidate.matches(topicText);
        return Number(process.hrtime.bigint() - started) / rounds;
      };
      perTest(ordinary);
      const base = Math.max(perTest(ordinary), 200);
      for (const candidate of costliest) {
        const cost = perTest(candidate);
        assert.ok(cost < base * 100, `${candidate.text} costs ${(cost / 1000).toFixed(1)} µs per test on ${topicText.length} characters, ${(cost / base).toFixed(0)}× an ordinary template`);
      }
    }
  });

  it("any URL Pattern accepted tests a long crafted topic in linear time (property)", () => {
    const hubUrl = "https://hub.example/.well-known/mercure";
    const token = fc.oneof(fc.constantFrom("a", "e", "-", "/", ".", "*", "?", "{", "}", "{e}?", "{/:g}", "\\*"), fc.integer({ min: 0, max: 9 }).map((n) => `:n${n}`));
    fc.assert(
      fc.property(fc.constantFrom("https://example.com/", "https://*.example.com/", "/", "https://example.com/books?"), fc.array(token, { minLength: 1, maxLength: 14 }), fc.constantFrom("e", "a-", "e/", "a.", "e/a-"), (prefix, tokens, unit) => {
        let compiled: Selector;
        try {
          compiled = matcher("urlpattern", prefix + tokens.join(""), hubUrl);
        } catch {
          return; // refused, or not a URL Pattern
        }
        const topic = `https://${unit.repeat(20)}example.com/${unit.repeat(400)}Q`;
        const started = process.hrtime.bigint();
        compiled.matches(topic);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        assert.ok(ms < 100, `${compiled.text} took ${ms.toFixed(0)} ms on ${topic.length} characters`);
      }),
      { numRuns: 400 },
    );
  });
});
