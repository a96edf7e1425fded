/**
 * The OpenAPI document (src/openapi/) passes a real OpenAPI 3.1 validator, its references
 * resolve, and its error codes are the map's with the map's statuses. In Node: the
 * validator compiles JSON Schemas with ajv, which workerd's no-eval rule forbids.
 */
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { errorsByStatus, openApiDocument, operations } from "../../src/openapi/document.ts";
import { docsPage, typeHtml } from "../../src/openapi/html.ts";
import { ERROR_STATUS } from "../../src/shared/error-codes.ts";

type Json = Record<string, unknown>;
const doc = openApiDocument("0.0.0-test") as Json & { paths: Record<string, Record<string, Json>> };

describe("OpenAPI document", () => {
  it("is valid OpenAPI 3.1 and every $ref resolves", async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(validator.version).toBe("3.1");
    // resolveRefs throws on a reference to nothing.
    expect(() => validator.resolveRefs()).not.toThrow();
    expect(JSON.stringify(doc)).not.toContain("#/$defs/");
  });

  it("the validator refuses a broken document (so passing means something)", async () => {
    const broken = structuredClone(doc);
    // A parameter in a place OpenAPI does not have (3.1 makes `responses` optional, so not that).
    const exec = broken.paths["/sandboxes/{projectId}/exec"]?.post as { parameters: Json[] };
    (exec.parameters[0] as Json).in = "body";
    const res = await new Validator().validate(broken);
    expect(res.valid).toBe(false);
  });

  it("has one operation per row of the route table, with unique ids", () => {
    const ids = new Set<string>();
    let count = 0;
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        count += 1;
        ids.add(String(op.operationId));
      }
    }
    expect(count).toBe(operations.length);
    expect(ids.size).toBe(count);
  });

  it("lists each error code under the status the map answers it with (runner relays: 502)", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses as Record<string, Json>)) {
          if (status === "default" || Number(status) < 400) continue;
          const schema = (response.content as Json)["application/json"] as { schema: { allOf: Json[] } };
          const codes = ((schema.schema.allOf[1] as Json).properties as { code: { enum: string[] } }).code.enum;
          expect(codes.length, `${method} ${path} ${status}`).toBeGreaterThan(0);
          for (const code of codes) {
            const mapped = ERROR_STATUS[code as keyof typeof ERROR_STATUS];
            expect(mapped, `${code} is a code`).toBeDefined();
            if (mapped !== Number(status)) expect([code, Number(status)]).toEqual([code, 502]);
          }
        }
        const statuses = Object.keys(op.responses as Json);
        expect(statuses, `${method} ${path}`).toContain("500");
        if ((op.security as unknown[]).length > 0) expect(statuses, `${method} ${path}`).toContain("401");
      }
    }
  });

  it("places every code of the map: answered by some operation, or by no route of the Worker's app", () => {
    const listed = new Set<string>();
    for (const op of operations) for (const codes of errorsByStatus(op).values()) for (const c of codes) listed.add(c);
    const unlisted = Object.keys(ERROR_STATUS).filter((c) => !listed.has(c));
    expect(unlisted.sort()).toEqual(
      [
        // The app's own answers for no operation (its 404/405, documented in info.description,
        // and the framework's refusals, every operation's `default` response).
        "ROUTE_NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "HTTP_ERROR",
        // NotFoundError's default; every Worker route names its code.
        "NOT_FOUND",
        // sandboxd's (the jail host's own API, not the Worker's).
        "INVALID_JAIL_ID",
        "INVALID_PORT",
        "UPGRADE_NOT_SUPPORTED",
        "JAIL_NOT_FOUND",
        "ROOT_TOO_DEEP",
        "JAIL_START_FAILED",
        "JAIL_NETWORK_FAILED",
        "JAIL_PROXY_FAILED",
        "JAIL_SOCKET_INVALID",
        "RUNTIME_MISSING",
        "JAIL_NOT_RUNNING",
        // The container's egress (model APIs, the runner API's host), answered to the sandbox.
        "MODEL_KEY_MISSING",
        "EGRESS_HOST_REFUSED",
        "EGRESS_UNAVAILABLE",
        // A job's own failure codes (the runner's push), in a failed job's `error`, never an answer.
        "PUSH_REJECTED",
        "PUSH_AUTH_FAILED",
      ].sort(),
    );
  });

  it("names the request schemas the validators use: a path's parameters are its template's", () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const op of Object.values(item)) {
        const inPath = ((op.parameters ?? []) as Json[]).filter((p) => p.in === "path").map((p) => p.name);
        expect(inPath.sort(), `${path}`).toEqual(names);
      }
    }
  });
});

describe("/docs rendering", () => {
  it("shows schemas as types: refs link, short unions stay on one line, text is escaped", () => {
    expect(typeHtml({ $ref: "#/components/schemas/Job" })).toBe('<a href="#schema-Job">Job</a>');
    expect(typeHtml({ anyOf: [{ type: "string" }, { type: "null" }] })).toBe("string | null");
    expect(typeHtml({ type: "string", contentMediaType: "application/x-tar" })).toBe("bytes");
    const obj = typeHtml({
      type: "object",
      properties: { a: { type: "integer", minimum: 1, description: "<b>one</b>" } },
      required: [],
    });
    expect(obj).toContain("a?: integer");
    expect(obj).toContain("&lt;b&gt;one&lt;/b&gt;");
    expect(obj).not.toContain("<b>");
  });

  it("renders every operation of the document", () => {
    const html = docsPage(doc);
    for (const op of operations) expect(html).toContain(`id="${op.operationId}"`);
    expect(html).not.toMatch(/<script|<link /);
  });
});
