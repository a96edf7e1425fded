/**
 * @module validation
 * The one hook every `zValidator(target, schema, onInvalid)` uses: it throws a
 * ValidationError naming each bad field, so app.onError answers with the envelope.
 * zod's own messages ("Invalid input: expected string, received undefined") say
 * nothing about which field; they are rewritten here into sentences that name it
 * ("command is required"). Messages a schema sets itself are kept as written.
 * Routes validate through `validate(target, schema)`, which also records which schema
 * each validator middleware checks, so a test can hold the OpenAPI route table to the
 * schemas the routes really use.
 */
import { zValidator } from "@hono/zod-validator";
import type { MiddlewareHandler, ValidationTargets } from "hono";
import { z } from "zod";
import { ValidationError } from "./errors";

/** What the whole value is called in a message, per zValidator target. */
const TARGET_NAMES: Record<string, string> = {
  json: "The request body",
  query: "The query string",
  param: "The URL path",
  header: "The header",
};

/** zod's default messages all start like this; anything else was written by a schema. */
const ZOD_DEFAULT_MESSAGE = /^(Invalid|Too (small|big)|Unrecognized key)/;

/** "a string", "an integer", "a JSON object": zod's type names as a reader says them. */
function typeName(name: string, target: string): string {
  if (name === "object") return target === "json" ? "a JSON object" : "an object";
  if (name === "int") return "an integer";
  if (name === "null" || name === "undefined") return name;
  return /^[aeiou]/.test(name) ? `an ${name}` : `a ${name}`;
}

/** A field path as written in JSON-ish notation: `repo.url`, `events[2].type`. */
function fieldName(path: readonly PropertyKey[], target: string): string {
  if (path.length === 0) return TARGET_NAMES[target] ?? `The ${target}`;
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("");
}

const quoteAll = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(", ");

/** One issue as a sentence that names its field. */
export function describeIssue(issue: z.core.$ZodIssue, target: string): string {
  if (!ZOD_DEFAULT_MESSAGE.test(issue.message)) return issue.message;
  const name = fieldName(issue.path, target);
  switch (issue.code) {
    case "invalid_type": {
      const received = /received (\w+)$/.exec(issue.message)?.[1];
      if (received === "undefined") return `${name} is required`;
      const expected = `${name} must be ${typeName(issue.expected, target)}`;
      // "must be an integer, not a number" says nothing: 1.5 is a number.
      if (!received || (issue.expected === "int" && received === "number")) return expected;
      return `${expected}, not ${typeName(received, target)}`;
    }
    case "too_small": {
      const min = Number(issue.minimum);
      if (issue.origin === "string") {
        return min <= 1 ? `${name} must not be empty` : `${name} must be at least ${min} characters long`;
      }
      if (issue.origin === "array" || issue.origin === "set") {
        return min <= 1 ? `${name} must not be empty` : `${name} must have at least ${min} items`;
      }
      if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") {
        if (min === 0 && issue.inclusive === false) return `${name} must be a positive number`;
        return issue.inclusive === false ? `${name} must be greater than ${min}` : `${name} must be at least ${min}`;
      }
      return `${name} is too small`;
    }
    case "too_big": {
      const max = Number(issue.maximum);
      if (issue.origin === "string") return `${name} must be at most ${max} characters long`;
      if (issue.origin === "array" || issue.origin === "set") return `${name} must have at most ${max} items`;
      if (issue.origin === "number" || issue.origin === "int" || issue.origin === "bigint") {
        return issue.inclusive === false ? `${name} must be less than ${max}` : `${name} must be at most ${max}`;
      }
      return `${name} is too large`;
    }
    case "unrecognized_keys": {
      const fields = `${issue.keys.length === 1 ? "field" : "fields"} ${quoteAll(issue.keys)}`;
      return issue.path.length === 0 ? `Unknown ${fields}` : `${name} has unknown ${fields}`;
    }
    case "invalid_value":
      return issue.values.length === 1
        ? `${name} must be ${quoteAll(issue.values)}`
        : `${name} must be one of ${quoteAll(issue.values)}`;
    case "invalid_format":
      return issue.format === "regex" ? `${name} is malformed` : `${name} must be a valid ${issue.format}`;
    case "not_multiple_of":
      return `${name} must be a multiple of ${String(issue.divisor)}`;
    case "invalid_key": {
      // A record key: the key is the last path element; the key schema's own issue says why.
      const inner = issue.issues[0] ? describeIssue(issue.issues[0], target) : "";
      const custom = issue.issues[0] && !ZOD_DEFAULT_MESSAGE.test(issue.issues[0].message);
      const parent = fieldName(issue.path.slice(0, -1), target);
      const key = JSON.stringify(String(issue.path.at(-1)));
      return custom ? `${inner} (${key})` : `${parent} has an invalid key ${key}`;
    }
    default:
      return `${name} is invalid`;
  }
}

/** Shared zValidator hook: turn a failed parse into a 400 ValidationError. */
export function onInvalid(result: { success: boolean; error?: z.core.$ZodError; target: string }): void {
  if (result.success || !result.error) return;
  const target = result.target;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: describeIssue(issue, target),
  }));
  throw new ValidationError(issues.map((i) => i.message).join("; "), { issues });
}

/**
 * Parse `value` with `schema` outside a zValidator (e.g. a body whose form depends on its
 * type). Any zod schema, classic or `zod/mini` (the shared manifest's).
 */
export function parseOrThrow<T>(schema: z.core.$ZodType<T>, value: unknown, target: string): T {
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) onInvalid({ success: false, error: parsed.error, target });
  return parsed.data as T;
}

/** The request's JSON body; malformed JSON is a 400 INVALID_JSON. */
export async function readJson(req: { json(): Promise<unknown> }): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw new ValidationError("Malformed JSON in request body", undefined, "INVALID_JSON");
  }
}

/** Each validator middleware `validate()` made, and what it checks. */
export const validatorSchemas = new WeakMap<object, { target: keyof ValidationTargets; schema: z.core.$ZodType }>();

/** What a validator of `schema` on `target` adds to a handler's `c.req.valid(target)`. */
type Validated<T extends z.core.$ZodType, Target extends keyof ValidationTargets> = {
  in: { [K in Target]: z.input<T> };
  out: { [K in Target]: z.output<T> };
};

/** `zValidator(target, schema, onInvalid)`, recorded in `validatorSchemas`; handlers read `c.req.valid(target)`. */
export function validate<T extends z.core.$ZodType, Target extends keyof ValidationTargets>(
  target: Target,
  schema: T,
  // biome-ignore lint/suspicious/noExplicitAny: as zValidator's own default, so the middleware fits any app's Env.
): MiddlewareHandler<any, string, Validated<T, Target>> {
  // zValidator types its middleware for a plain Env; the cast only widens that to any app's.
  const middleware = zValidator(target, schema, onInvalid) as unknown as MiddlewareHandler<
    // biome-ignore lint/suspicious/noExplicitAny: see above.
    any,
    string,
    Validated<T, Target>
  >;
  validatorSchemas.set(middleware, { target, schema });
  return middleware;
}
