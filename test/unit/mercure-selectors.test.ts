import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ALL_EVENTS_CHANNEL } from "../../src/bus/event-bus.ts";
import { parsePublishForm } from "../../src/mercure/publish-form.ts";
import { anyMatches, selector } from "../../src/mercure/selectors.ts";
import { subscriptionChannels } from "../../src/mercure/subscription.ts";
import { compileUriTemplate } from "../../src/mercure/uri-template.ts";
import { updateFrame } from "../../src/mercure/update.ts";

/** Percent-encodes as RFC 6570 does: unreserved characters stay, the rest (reserved too, unless `keep`) become %XX. */
function encode(value: string, keepReserved: boolean): string {
  const keep = keepReserved ? /[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]/ : /[A-Za-z0-9\-._~]/;
  return [...new TextEncoder().encode(value)].map((byte) => {
    const char = String.fromCharCode(byte);
    return byte < 128 && keep.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }).join("");
}

/** A level 3 expansion (RFC 6570 section 3.2) of one expression with string values, for the property. */
function expand(operator: string, names: readonly string[], values: Readonly<Record<string, string | undefined>>): string {
  const spec: Record<string, [string, string, boolean, boolean]> = {
    "": ["", ",", false, false], "+": ["", ",", false, true], "#": ["#", ",", false, true], ".": [".", ".", false, false],
    "/": ["/", "/", false, false], ";": [";", ";", true, false], "?": ["?", "&", true, false], "&": ["&", "&", true, false],
  };
  const [first, separator, named, reserved] = spec[operator]!;
  const parts = names.filter((name) => values[name] !== undefined).map((name) => {
    const value = encode(values[name]!, reserved);
    if (!named) return value;
    return operator === ";" && value === "" ? name : `${name}=${value}`;
  });
  return parts.length === 0 ? "" : first + parts.join(separator);
}

const OPERATORS = ["", "+", "#", ".", "/", ";", "?", "&"];
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/);
const value = fc.option(fc.string({ maxLength: 8 }), { nil: undefined });

describe("Mercure topic selectors", () => {
  it("a URI template matches every expansion of itself (RFC 6570 levels 1 to 3, any values, some undefined)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...OPERATORS),
        fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
        fc.array(value, { minLength: 3, maxLength: 3 }),
        fc.stringMatching(/^[a-z/:.]{0,12}$/),
        (operator, names, picked, suffix) => {
          const values = Object.fromEntries(names.map((variable, index) => [variable, picked[index]]));
          const template = `https://example.com/books{${operator}${names.join(",")}}${suffix}`;
          const topic = `https://example.com/books${expand(operator, names, values)}${suffix}`;
          assert.ok(selector(template).matches(topic), `${template} should match ${topic}`);
        },
      ),
    );
  });

  it("a simple expression never matches a reserved character: {id} stops at /, ?, #", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{1,6}$/), fc.constantFrom("/", "?", "#", ",", "&"), fc.stringMatching(/^[A-Za-z0-9]{0,6}$/), (left, reserved, right) => {
        assert.equal(selector("https://example.com/books/{id}").matches(`https://example.com/books/${left}${reserved}${right}`), false);
      }),
    );
  });

  it("an exact selector matches only itself; * matches everything", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), (topic, other) => {
        fc.pre(topic.replace(/[{}]/g, "") !== "*");
        const exact = selector(topic.replace(/[{}]/g, ""));
        assert.equal(exact.matches(exact.text), true);
        assert.equal(exact.matches(other), other === exact.text);
        assert.equal(selector("*").matches(other), true);
      }),
    );
  });

  it("a crafted template and topic cannot make matching backtrack for ages", { timeout: 5000 }, () => {
    const crafted = selector("https://e.com/{a}x{b}x{c}x{d}x{e}x{f}x{g}x{h}");
    assert.equal(crafted.matches(`https://e.com/${"ax".repeat(1000)}!`), false);
  });

  it("matches exactly what a regular expression of the template's expansions matches (any template, any topic)", () => {
    // The oracle: each expression as a backtracking regular expression, fine on these short inputs.
    const unreserved = "[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2}";
    const reserved = `${unreserved}|[:/?#\\[\\]@!$&'()*+,;=]`;
    const specs: Record<string, [string, string, boolean, string]> = {
      "": ["", ",", false, unreserved], "+": ["", ",", false, reserved], "#": ["#", ",", false, reserved], ".": [".", ".", false, unreserved],
      "/": ["/", "/", false, unreserved], ";": [";", ";", true, unreserved], "?": ["?", "&", true, unreserved], "&": ["&", "&", true, unreserved],
    };
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const oracle = (pieces: readonly (string | [string, readonly [string, boolean][]])[]) =>
      new RegExp(`^${pieces.map((piece) => {
        if (typeof piece === "string") return escape(piece);
        const [first, separator, named, allowed] = specs[piece[0]]!;
        const parts = piece[1].map(([variable, exploded]) => {
          const chars = exploded ? `(?:${allowed}|[${escape(separator)},=])` : `(?:${allowed})`;
          return named && !exploded ? `${escape(variable)}(?:=${chars}*)?` : `${chars}*`;
        });
        const one = `(?:${[...new Set(parts)].join("|")})`;
        return `(?:${escape(first)}${one}(?:${escape(separator)}${one}){0,${parts.length - 1}})?`;
      }).join("")}$`);
    const literal = fc.stringMatching(/^[a-z/:.,;=&?#%0-9]{0,4}$/);
    const expression = fc.tuple(fc.constantFrom(...OPERATORS), fc.uniqueArray(fc.tuple(fc.constantFrom("a", "b", "c"), fc.boolean()), { minLength: 1, maxLength: 3, selector: ([variable]) => variable }));
    fc.assert(
      fc.property(fc.array(fc.oneof(literal, expression), { minLength: 1, maxLength: 4 }), fc.array(fc.array(fc.stringMatching(/^[a-c/:.,;=&?#%0-9A-F]{0,6}$/), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 8 }), (pieces, fillings) => {
        const template = pieces.map((piece) => (typeof piece === "string" ? piece : `{${piece[0]}${piece[1].map(([variable, exploded]) => variable + (exploded ? "*" : "")).join(",")}}`)).join("");
        fc.pre(template.includes("{"));
        const expected = oracle(pieces);
        const compiled = compileUriTemplate(template)!;
        // Topics close to the template: its literals, each expression replaced by some text.
        const topics = fillings.map((filling) => pieces.map((piece, index) => (typeof piece === "string" ? piece : filling[index]!)).join(""));
        for (const topic of [...topics, template.replace(/[{}]/g, "")]) assert.equal(compiled.test(topic), expected.test(topic), `${template} on ${topic}`);
      }),
      { numRuns: 500 },
    );
  });

  it("examples of the protocol: templates, alternates, literals with regex characters", () => {
    const books = selector("https://example.com/books/{id}");
    assert.equal(books.matches("https://example.com/books/1"), true);
    assert.equal(books.matches("https://example.com/books/1/reviews"), false);
    assert.equal(books.matches("https://example.com/books/{id}"), true, "a template matches itself as an exact string");
    assert.equal(selector("https://example.com/{+path}").matches("https://example.com/a/b?c=d"), true);
    assert.equal(selector("https://example.com/users/{id}{?fields}").matches("https://example.com/users/7?fields=name"), true);
    assert.equal(selector("https://e.com/a.b/{x}").matches("https://e.com/aXb/1"), false, "a literal dot is a dot");
    assert.equal(anyMatches([books], ["https://example.com/other", "https://example.com/books/2"]), true, "an alternate topic matches");
    assert.equal(compileUriTemplate("https://e.com/{unclosed"), undefined);
    assert.equal(selector("https://e.com/{unclosed").matches("https://e.com/{unclosed"), true, "a malformed template is an exact string");
  });

  it("exact selectors listen to their topics' channels; a template or * listens to every event", () => {
    assert.deepEqual(subscriptionChannels([selector("a"), selector("b"), selector("a")]), ["m:a", "m:b"]);
    assert.deepEqual(subscriptionChannels([selector("a"), selector("https://e.com/{id}")]), [ALL_EVENTS_CHANNEL]);
    assert.deepEqual(subscriptionChannels([selector("*")]), [ALL_EVENTS_CHANNEL]);
  });
});

describe("Mercure publish form and framing", () => {
  it("reads topics in order, private by presence, id, type and retry", () => {
    const update = parsePublishForm("topic=https%3A%2F%2Fe.com%2F1&topic=urn%3Aalt&data=x&private=&id=abc&type=t&retry=500");
    assert.deepEqual(update, { topics: ["https://e.com/1", "urn:alt"], data: "x", private: true, id: "abc", type: "t", retry: 500 });
    assert.equal(parsePublishForm("topic=a").private, false);
  });

  it("refuses what the protocol refuses, naming the field", () => {
    for (const [body, field] of [["data=x", "topic"], ["topic=a&id=%23x", "id"], ["topic=a&id=a%0Ab", "id"], ["topic=a&type=a%0Db", "type"], ["topic=a&retry=1.5", "retry"], ["topic=a%01", "topic"], ["topic=a&id=1&id=2", "id"], ["topic=a&id=%E6%97%A5", "id"], ["topic=a&id=a%01b", "id"], ["topic=a&id=earliest", "id"], ["topic=a&id=%20x", "id"], ["topic=a&id=x%20", "id"]] as const) {
      assert.throws(() => parsePublishForm(body), (error: Error) => error.message.includes(`\`${field}\``), body);
    }
  });

  it("frames any data as one data line per line, empty lines and leading spaces kept", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[^\r\n]{0,10}$/), { minLength: 1, maxLength: 5 }), (lines) => {
        const frame = updateFrame("id-1", { topics: ["a"], data: lines.join("\n"), private: false }).toString();
        assert.ok(frame.startsWith("id: id-1\n") && frame.endsWith("\n\n"));
        // What an EventSource parser does: one space after the colon stripped, lines joined by LF.
        const data = frame.slice(0, -2).split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(6));
        assert.deepEqual(data, lines);
      }),
    );
    assert.equal(updateFrame("i", { topics: ["a"], data: "a\r\nb", private: false, type: "t", retry: 5 }).toString(), "id: i\nevent: t\nretry: 5\ndata: a\ndata: b\n\n");
  });
});
