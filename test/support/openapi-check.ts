/**
 * @module test/support/openapi-check
 * Checks an answer of the API against the OpenAPI document the Worker serves: the
 * operation its method and path name, a status that operation documents, a media type
 * documented for that status, and — for JSON — the body against that response's schema
 * (so an error's code must be one the operation lists for its status). SSE events are
 * checked against the stream's documented events. JSON Schema is checked by
 * @cfworker/json-schema, which runs in workerd (ajv needs eval). Used by the Worker
 * tests' helper (test/worker/support/http.ts) and the Node stacks' `call`
 * (test/support/stack.ts), so it runs under Node's type stripping too.
 */
import { type Schema, Validator } from "@cfworker/json-schema";

type Json = Record<string, unknown>;
export interface OpenApiDoc {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json> };
}

/** What an answer was checked against, for checking a stream's events later. */
export interface Matched {
  label: string;
  /** The `x-sse-events` schema of a text/event-stream answer. */
  events?: Json;
}

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A path template as a regular expression: `{path}` (a wildcard tail) spans segments, others one. */
function templateRegExp(template: string): RegExp {
  const source = template
    .split(/(\{[A-Za-z0-9_]+\})/)
    .map((part) => {
      if (part === "{path}") return ".*";
      if (/^\{\w+\}$/.test(part)) return "[^/]+";
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}/?$`);
}

export class OpenApiChecker {
  private readonly doc: OpenApiDoc;
  private readonly templates: Array<{ template: string; regexp: RegExp; literal: number }>;
  private readonly validators = new Map<string, Validator>();

  constructor(doc: OpenApiDoc) {
    this.doc = doc;
    this.templates = Object.keys(doc.paths)
      .map((template) => ({
        template,
        regexp: templateRegExp(template),
        literal: template.replace(/\{\w+\}/g, "").length,
      }))
      .sort((a, b) => b.literal - a.literal);
  }

  /** Problems with `value` against `schema` (its refs resolved among the components). */
  validate(key: string, schema: unknown, value: unknown): string[] {
    let validator = this.validators.get(key);
    if (!validator) {
      const text = JSON.stringify(schema).replaceAll('"#/components/schemas/', '"#/$defs/');
      const root = { ...(JSON.parse(text) as Json), $defs: this.defs() } as Schema;
      validator = new Validator(root, "2020-12", false);
      this.validators.set(key, validator);
    }
    const result = validator.validate(value);
    return result.valid ? [] : result.errors.map((e) => `${e.instanceLocation}: ${e.error}`);
  }

  private defsCache: Json | undefined;
  private defs(): Json {
    this.defsCache ??= JSON.parse(
      JSON.stringify(this.doc.components.schemas).replaceAll('"#/components/schemas/', '"#/$defs/'),
    ) as Json;
    return this.defsCache;
  }

  /** The documented operation for `method` and `path`, or why there is none. */
  find(method: string, path: string): { template: string; op: Json | undefined } | undefined {
    const hit = this.templates.find((t) => t.regexp.test(path));
    if (!hit) return undefined;
    const item = this.doc.paths[hit.template] ?? {};
    const m = method.toLowerCase();
    // Hono answers HEAD with the GET handler where no HEAD is declared.
    return { template: hit.template, op: item[m] ?? (m === "head" ? item.get : undefined) };
  }

  /**
   * Problems with one answer (none: it matches the document). `body` is the parsed JSON
   * of a JSON answer, undefined otherwise.
   */
  check(
    req: { method: string; path: string },
    res: { status: number; contentType: string | null; body?: unknown },
  ): { problems: string[]; matched?: Matched } {
    const label = `${req.method} ${req.path} → ${res.status}`;
    const found = this.find(req.method, req.path);
    if (!found?.op) {
      // No such operation: the app's own 404/405 (or the bearer check in front of it).
      const code = isObj(res.body) ? res.body.code : undefined;
      const expected = found ? [405, "METHOD_NOT_ALLOWED"] : [404, "ROUTE_NOT_FOUND"];
      if (res.status === 401 && code === "UNAUTHORIZED") return { problems: [] };
      if (res.status === expected[0] && code === expected[1]) {
        return { problems: this.validate("Error", { $ref: "#/components/schemas/Error" }, res.body) };
      }
      return { problems: [`${label}: no documented operation (${found ? "method" : "path"} unknown)`] };
    }
    const responses = (found.op.responses ?? {}) as Record<string, Json>;
    const isHttpError = isObj(res.body) && res.body.code === "HTTP_ERROR";
    const statusKey = responses[String(res.status)] && !isHttpError ? String(res.status) : "default";
    const response = responses[statusKey];
    if (!response || (statusKey === "default" && !isHttpError)) {
      return { problems: [`${label}: status ${res.status} is not documented for ${found.template}`] };
    }
    const content = (response.content ?? {}) as Record<string, Json>;
    const media = (res.contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    if (req.method === "HEAD" || media === "") return { problems: [], matched: { label } };
    const documented = content[media];
    if (!documented) {
      return { problems: [`${label}: content type ${media} is not documented (${Object.keys(content).join(", ")})`] };
    }
    const matched: Matched = { label };
    if (isObj(documented["x-sse-events"])) matched.events = documented["x-sse-events"];
    if (media !== "application/json") return { problems: [], matched };
    const key = `${String(found.op.operationId)} ${statusKey} ${media}`;
    const problems = this.validate(key, documented.schema, res.body).map((p) => `${label}: ${p}`);
    return { problems, matched };
  }

  /** Problems with one SSE event (`type` its event name, plus its data) of a matched stream. */
  checkEvent(matched: Matched, event: Json): string[] {
    if (!matched.events) return [];
    return this.validate(`${matched.label} events`, matched.events, event).map((p) => `${matched.label} event: ${p}`);
  }
}
