import { ApiError } from "../http/errors.ts";
import { EARLIEST } from "./resume.ts";
import type { MercureUpdate } from "./update.ts";

/** Longest topic IRI, id and type accepted: each is stored with the update and framed on every delivery. */
const MAX_FIELD_CHARS = 2048;
/** Topics of one update at most (the canonical one and its alternates). */
const MAX_TOPICS = 32;
const LINE_BREAK_OR_NUL = /[\r\n\0]/;
/**
 * Ids travel back in the Last-Event-ID response header too, whose values HTTP/2 limits to visible
 * ASCII and spaces; and a client resumes with one in its Last-Event-ID request header, whose
 * leading and trailing spaces HTTP strips: an id " x" would come back as "x", unknown, and replay
 * all history. So spaces only inside.
 */
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
/** Control characters: topics name channels, whose names must stay printable. */
const CONTROL = /[\u0000-\u001f\u007f]/;
/**
 * A `.` or `..` path segment, as written or percent-encoded (`\` counts as `/` in http URLs).
 * Publish grants and templates match a topic as written, URL Patterns as a URL resolves it: with
 * one, `https://example.com/books/../admin/x` passes a grant for books/{+rest} and reaches
 * subscribers of admin/:x.
 */
const DOT_SEGMENT = /(?:^|[/\\])(?:\.|%2e){1,2}(?=[/\\]|$)/i;

/**
 * A publish form (application/x-www-form-urlencoded) as the protocol reads it: `topic` repeated
 * (the first canonical), `data`, `private` (present means private, whatever its value), `id`,
 * `type`, `retry`. Throws invalid_body naming the field that breaks a rule.
 */
export function parsePublishForm(body: unknown): MercureUpdate {
  if (body !== undefined && typeof body !== "string") throw new ApiError("unsupported_media_type", "send the update as Content-Type: application/x-www-form-urlencoded");
  const form = new URLSearchParams(body ?? "");
  const topics = form.getAll("topic");
  if (topics.length === 0) throw invalidField("`topic` is required: the IRI of the topic the update is about");
  if (topics.length > MAX_TOPICS) throw invalidField(`at most ${MAX_TOPICS} \`topic\` fields (one canonical and its alternates)`);
  for (const topic of topics) {
    if (topic === "" || topic.length > MAX_FIELD_CHARS || CONTROL.test(topic)) {
      throw invalidField(`each \`topic\` must be 1 to ${MAX_FIELD_CHARS} characters without control characters`);
    }
    if (DOT_SEGMENT.test(topic.split(/[?#]/, 1)[0]!)) throw invalidField(`a \`topic\` must not hold a dot segment (. or .., also %2e): "${topic.slice(0, 100)}" means another topic to URL Patterns than to templates`);
  }
  // An empty id asks for a generated one, as Mercure hubs read it.
  const id = single(form, "id") || undefined;
  // A client that received it would send it back as Last-Event-ID, and be replayed all history.
  if (id === EARLIEST) throw invalidField(`\`id\` must not be "${EARLIEST}": subscribers resume from ids, and that one asks for all history`);
  if (id !== undefined && (id.startsWith("#") || !HEADER_SAFE.test(id) || id.length > MAX_FIELD_CHARS)) {
    throw invalidField(
      `\`id\` must be 1 to ${MAX_FIELD_CHARS} printable ASCII characters (an IRI written as a URI), spaces only inside, not starting with "#" (the hub's own ids start so)`,
    );
  }
  const type = single(form, "type");
  if (type !== undefined && (LINE_BREAK_OR_NUL.test(type) || type.length > MAX_FIELD_CHARS)) throw invalidField("`type` must not contain CR, LF or NUL");
  const retry = single(form, "retry");
  if (retry !== undefined && !/^\d{1,9}$/.test(retry)) throw invalidField("`retry` must be ASCII digits: the reconnection time in milliseconds");
  return {
    topics,
    data: single(form, "data") ?? "",
    private: form.has("private"),
    ...(id === undefined ? {} : { id }),
    ...(type === undefined || type === "" ? {} : { type }),
    ...(retry === undefined ? {} : { retry: Number(retry) }),
  };
}

function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  if (values.length > 1) throw invalidField(`\`${name}\` may be given once`);
  return values[0];
}

function invalidField(message: string): ApiError {
  return new ApiError("invalid_body", message);
}
