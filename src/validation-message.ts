/**
 * One sentence per JSON-schema failure that names the field and says what it must be, in words:
 * never a raw regular expression, never "must NOT have additional properties" without the name.
 * Used for HTTP requests and for bodies that arrive from queues.
 */

/** The parts of an ajv error this reads (ajv's ErrorObject and fastify's validation errors both fit). */
export interface SchemaViolation {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
  /** With ajv's `verbose`: the value of the failing keyword, and the schema holding it. */
  readonly schema?: unknown;
  readonly parentSchema?: unknown;
}

/** `where`: what the instance path starts from ("body", "query", ...). */
export function describeViolation(violation: SchemaViolation, where: string): string {
  const field = fieldName(where, violation.instancePath);
  const { params } = violation;
  switch (violation.keyword) {
    case "additionalProperties":
      return `${field} has an unknown field ${quoted(params.additionalProperty)}${knownFields(violation.parentSchema)}`;
    case "required":
      return `${field} is missing the required field "${String(params.missingProperty)}"`;
    case "type":
      return `${field} must be ${article(String(params.type))} ${String(params.type)}`;
    case "minLength":
      return `${field} must be at least ${String(params.limit)} characters long`;
    case "maxLength":
      return `${field} must be at most ${String(params.limit)} characters long`;
    case "minItems":
      return `${field} must have at least ${String(params.limit)} items`;
    case "maxItems":
      return `${field} must have at most ${String(params.limit)} items`;
    case "minimum":
    case "maximum":
      return `${field} must be ${violation.keyword === "minimum" ? "at least" : "at most"} ${String(params.limit)}`;
    case "enum":
      return `${field} must be one of: ${((params.allowedValues as unknown[] | undefined) ?? []).map(String).join(", ")}`;
    case "pattern":
      return `${field} must be ${descriptionOf(violation.parentSchema) ?? "in the documented format"}`;
    case "not":
      return `${field} is refused: ${descriptionOf(violation.schema) ?? "its value is not allowed"}`;
    default:
      return `${field} ${violation.message ?? "is invalid"}`;
  }
}

function fieldName(where: string, instancePath: string): string {
  const steps = instancePath.split("/").slice(1);
  return steps.reduce((name, step) => (/^\d+$/.test(step) ? `${name}[${step}]` : `${name}.${step}`), where);
}

/** A name from the request, quoted and cut short: it is echoed back, not stored. */
function quoted(name: unknown): string {
  const text = String(name);
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? "an" : "a";
}

function descriptionOf(schema: unknown): string | undefined {
  const description = (schema as { description?: unknown } | undefined)?.description;
  return typeof description === "string" ? description : undefined;
}

function knownFields(schema: unknown): string {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties ? ` (known fields: ${Object.keys(properties).join(", ")})` : "";
}
