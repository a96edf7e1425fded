/**
 * @module openapi/document
 * The OpenAPI 3.1 document, generated from the route table (openapi/routes-*.ts): each
 * zod schema becomes JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) through
 * `z.toJSONSchema`, requests as their input type, answers as their output type. Named
 * schemas (`.meta({ id })`) become components. Each error status of an operation lists
 * the codes it can carry (an enum), so a checker of answers checks the codes too.
 */
import { z } from "zod";
import { ERROR_STATUS, type ErrorCode, RUNNER_CODES_WITH_STATUS } from "../shared/error-codes";
import { type MediaSpec, type Operation, RUNNER_RELAYED } from "./operation";
import { fileOperations } from "./routes-files";
import { jobOperations, runnerOperations } from "./routes-jobs";
import { sandboxOperations } from "./routes-sandboxes";

type Json = Record<string, unknown>;

/** Every documented operation: the route table. */
export const operations: readonly Operation[] = [
  ...sandboxOperations,
  ...fileOperations,
  ...jobOperations,
  ...runnerOperations,
];

const COMPONENTS = "#/components/schemas/";
const TAGS = [
  { name: "Service", description: "Liveness and this documentation; no token needed" },
  { name: "Sandboxes", description: "Create, inspect, list, clean up and destroy a project's sandbox" },
  { name: "Commands", description: "Run commands and clone repositories in a sandbox" },
  { name: "Files", description: "Files, listings and tar archives inside the workspace" },
  { name: "Processes", description: "Background processes and their output" },
  { name: "Preview URLs", description: "Public URLs for servers listening in a sandbox" },
  { name: "Snapshots", description: "Snapshots of the workspace (stored in R2) and restores" },
  { name: "Jobs", description: "Agent jobs (queued in D1) and their events" },
  {
    name: "Runner API (internal)",
    description:
      "What the runner inside a sandbox calls, with a runner token the Worker mints for one project or job; answers bare JSON. Not for API users.",
  },
];

/** A Hono path (`/a/:id/files/*`) as an OpenAPI path template (`/a/{id}/files/{path}`). */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}").replace(/\/\*$/, "/{path}");
}

/** Replaces `#/$defs/X` references with component references, everywhere in `value`. */
function toComponentRefs<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', `"${COMPONENTS}`)) as T;
}

/** zod → JSON Schema, collecting named schemas into `components`; each schema converted once per `io`. */
function converter(components: Record<string, Json>) {
  const seen = { input: new WeakMap<object, Json>(), output: new WeakMap<object, Json>() };
  return (schema: z.core.$ZodType, io: "input" | "output"): Json => {
    // Shared, not copied: nothing mutates a converted schema once it is in the document.
    let converted = seen[io].get(schema);
    if (!converted) {
      converted = convertOnce(schema, io);
      seen[io].set(schema, converted);
    }
    return converted;
  };
  function convertOnce(schema: z.core.$ZodType, io: "input" | "output"): Json {
    // Unrepresentable types (a transform's output, a custom type) throw rather than become `{}`.
    const json = z.toJSONSchema(schema, { target: "draft-2020-12", io }) as Json;
    const { $schema: _, $defs, ...rest } = json;
    for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, Json>)) {
      const named = toComponentRefs(def);
      const known = components[id];
      if (known && JSON.stringify(known) !== JSON.stringify(named)) {
        throw new Error(`Two different schemas are named ${id} (or it differs as input and output)`);
      }
      components[id] = named;
    }
    return toComponentRefs(rest);
  }
}

/** The status an operation answers `code` with. */
function statusOf(code: ErrorCode, op: Operation): number {
  return op.runner && (RUNNER_RELAYED as readonly string[]).includes(code) ? 502 : ERROR_STATUS[code];
}

/** Every code `op` can answer, by status. */
export function errorsByStatus(op: Operation): Map<number, ErrorCode[]> {
  const codes = new Set<ErrorCode>(op.errors);
  codes.add("INTERNAL_ERROR");
  if (op.auth !== "none") codes.add("UNAUTHORIZED");
  if (op.runner) {
    for (const code of RUNNER_RELAYED) codes.add(code);
    for (const code of RUNNER_CODES_WITH_STATUS) codes.add(code);
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...codes].sort()) {
    const status = statusOf(code, op);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return new Map([...byStatus].sort(([a], [b]) => a - b));
}

function mediaContent(media: Record<string, MediaSpec>, convert: ReturnType<typeof converter>): Json {
  const content: Json = {};
  for (const [type, spec] of Object.entries(media)) {
    if (spec.kind === "sse") {
      // OpenAPI 3.1 has no schema for an event stream's items: the text, and its events by extension.
      content[type] = {
        schema: { type: "string", description: spec.description ?? "Server-sent events" },
        "x-sse-events": convert(spec.events, "output"),
      };
    } else {
      const schema: Json = spec.kind === "binary" ? { type: "string", contentMediaType: type } : { type: "string" };
      if (spec.description) schema.description = spec.description;
      content[type] = { schema };
    }
  }
  return content;
}

function parameters(op: Operation, convert: ReturnType<typeof converter>): Json[] {
  const list: Json[] = [];
  const add = (where: "path" | "query", shape: z.ZodObject) => {
    const schema = convert(shape, "input");
    const props = (schema.properties ?? {}) as Record<string, Json>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, prop] of Object.entries(props)) {
      const { description, ...rest } = prop;
      list.push({
        name,
        in: where,
        required: where === "path" || required.has(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  };
  if (op.params) add("path", op.params);
  if (op.wildcard)
    list.push({ name: "path", in: "path", required: true, description: op.wildcard, schema: { type: "string" } });
  if (op.query) add("query", op.query);
  for (const h of op.headers ?? []) {
    list.push({
      name: h.name,
      in: "header",
      required: h.required ?? false,
      description: h.description,
      schema: convert(h.schema, "input"),
    });
  }
  return list;
}

function operationObject(op: Operation, convert: ReturnType<typeof converter>): Json {
  const enveloped = op.envelope ?? true;
  const responses: Json = {};
  for (const [status, spec] of Object.entries(op.responses)) {
    const content: Json = {};
    if (spec.json) {
      const data = convert(spec.json, "output");
      content["application/json"] = {
        schema: enveloped
          ? {
              type: "object",
              properties: { success: { const: true }, data },
              required: ["success", "data"],
              additionalProperties: false,
            }
          : data,
      };
    }
    Object.assign(content, mediaContent(spec.media ?? {}, convert));
    const response: Json = { description: spec.description };
    if (Object.keys(content).length > 0) response.content = content;
    if (spec.headers) {
      response.headers = Object.fromEntries(
        Object.entries(spec.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }]),
      );
    }
    responses[status] = response;
  }
  for (const [status, codes] of errorsByStatus(op)) {
    responses[String(status)] = {
      description: codes.join(", "),
      content: {
        "application/json": {
          schema: { allOf: [{ $ref: `${COMPONENTS}Error` }, { properties: { code: { enum: codes } } }] },
        },
      },
    };
  }
  responses.default = {
    description: "HTTP_ERROR: a refusal by the HTTP framework itself, with its own status",
    content: {
      "application/json": {
        schema: { allOf: [{ $ref: `${COMPONENTS}Error` }, { properties: { code: { const: "HTTP_ERROR" } } }] },
      },
    },
  };

  const obj: Json = { operationId: op.operationId, tags: [op.tag], summary: op.summary };
  if (op.description) obj.description = op.description;
  obj.security = op.auth === "none" ? [] : [{ [op.auth === "bearer" ? "apiToken" : "runnerToken"]: [] }];
  const params = parameters(op, convert);
  if (params.length > 0) obj.parameters = params;
  if (op.body) {
    const content: Json = {};
    if (op.body.json) content["application/json"] = { schema: convert(op.body.json, "input") };
    Object.assign(content, mediaContent(op.body.media ?? {}, convert));
    obj.requestBody = { required: op.body.required, content };
  }
  obj.responses = responses;
  return obj;
}

/** The error envelope; each operation narrows `code` to what it answers. */
const ERROR_SCHEMA: Json = {
  type: "object",
  description: "Every refusal: a sentence for a person, a stable code for a program",
  properties: {
    success: { const: false },
    error: { type: "string" },
    code: { type: "string", enum: Object.keys(ERROR_STATUS) },
    details: { type: "object", description: "More about this refusal (e.g. `issues` of a validation error)" },
  },
  required: ["success", "error", "code"],
  additionalProperties: false,
};

let cached: { version: string; doc: Json } | undefined;

/** The OpenAPI 3.1 document of the API (built once per version). */
export function openApiDocument(version: string): Json {
  if (cached?.version === version) return cached.doc;
  const components: Record<string, Json> = {};
  const convert = converter(components);
  const paths: Record<string, Json> = {};
  for (const op of operations) {
    const path = openApiPath(op.path);
    paths[path] = { ...(paths[path] ?? {}), [op.method]: operationObject(op, convert) };
  }
  const doc: Json = {
    openapi: "3.1.1",
    info: {
      title: "sandbox-worker",
      version,
      description:
        "Persistent, isolated sandboxes, one per project, on Cloudflare. Every answer is an envelope: " +
        "`{success: true, data}` or `{success: false, error, code, details?}`; each operation lists the codes it can answer. " +
        "A path no route serves answers 404 `ROUTE_NOT_FOUND`; a served path asked with another method, 405 " +
        "`METHOD_NOT_ALLOWED` with an `Allow` header. " +
        "Generated from the zod schemas the routes validate with.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: TAGS,
    paths,
    components: {
      schemas: {
        Error: ERROR_SCHEMA,
        ...Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      },
      securitySchemes: {
        apiToken: { type: "http", scheme: "bearer", description: "The Worker's API_TOKEN" },
        runnerToken: {
          type: "http",
          scheme: "bearer",
          description: "A runner token the Worker mints for one project or one job (runner API only)",
        },
      },
    },
  };
  cached = { version, doc };
  return doc;
}
