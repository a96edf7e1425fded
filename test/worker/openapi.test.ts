/**
 * The OpenAPI document against the app: every route Hono serves is documented and every
 * documented operation is served; /openapi.json and /docs are public; and the check
 * that every API test's answers go through (support/http.ts) fails answers that do not
 * match the document. (Its validity as OpenAPI 3.1: test/node/openapi-document.test.ts.)
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openApiDocument, openApiPath, operations } from "../../src/openapi/document";
import { validatorSchemas } from "../../src/validation";
import { workerApp } from "../../src/worker-app";
import { api, checkAgainstDocument, openApiChecker } from "./support/http";

/** "METHOD /openapi/path" for each handler of the app (middleware, registered as ALL, left out). */
function servedRoutes(): Set<string> {
  const served = new Set<string>();
  for (const r of workerApp(env).app.routes) {
    if (r.method === "ALL") continue;
    const path = r.path.length > 1 ? r.path.replace(/\/$/, "") : r.path;
    served.add(`${r.method} ${openApiPath(path)}`);
  }
  return served;
}

const documented = () =>
  new Set(
    operations
      // Hono serves HEAD with the GET handler; the document names HEAD where it differs.
      .map((op) => `${op.method === "head" ? "GET" : op.method.toUpperCase()} ${openApiPath(op.path)}`),
  );

describe("the OpenAPI document covers the app", () => {
  it("documents every route the app serves, and serves every documented one", () => {
    const served = servedRoutes();
    expect(served.size).toBeGreaterThan(30);
    expect([...served].filter((r) => !documented().has(r))).toEqual([]);
    expect([...documented()].filter((r) => !served.has(r))).toEqual([]);
  });

  it("names, for each route, the very schemas its validators check", () => {
    // What each served route's validator middleware checks, by target (src/validation.ts records it).
    const checked = new Map<string, Map<string, unknown>>();
    for (const r of workerApp(env).app.routes) {
      const recorded = validatorSchemas.get(r.handler);
      if (!recorded) continue;
      const key = `${r.method} ${openApiPath(r.path.length > 1 ? r.path.replace(/\/$/, "") : r.path)}`;
      const targets = checked.get(key) ?? new Map<string, unknown>();
      expect(targets.has(recorded.target), `${key} validates ${recorded.target} once`).toBe(false);
      targets.set(recorded.target, recorded.schema);
      checked.set(key, targets);
    }
    expect(checked.size).toBeGreaterThan(25);
    // Routes whose JSON body's form depends on its type or whose raw text is kept, parsed in the
    // handler (parseOrThrow) with the schema the table names.
    const parsedInHandler = new Set(["createSandbox", "writeFile", "runnerCommit"]);
    for (const op of operations) {
      if (op.method === "head") continue;
      const key = `${op.method.toUpperCase()} ${openApiPath(op.path)}`;
      const targets = checked.get(key) ?? new Map<string, unknown>();
      expect(targets.get("param"), `${key} param`).toBe(op.params);
      expect(targets.get("query"), `${key} query`).toBe(op.query);
      const json = parsedInHandler.has(op.operationId) ? undefined : op.body?.json;
      expect(targets.get("json"), `${key} json`).toBe(json);
    }
  });

  it("is served at /openapi.json without a token, the same document the module builds", async () => {
    const res = await api("/openapi.json", { auth: false });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; info: { version: string } };
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc).toEqual(openApiDocument(doc.info.version));
  });

  it("renders /docs as one self-contained page naming every operation", async () => {
    const res = await api("/docs", { auth: false });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    for (const op of operations) expect(html).toContain(`id="${op.operationId}"`);
    expect(html).toContain("TIMEOUT");
    // Nothing loaded from elsewhere: no scripts, stylesheets or images by URL.
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!json-schema\.org)/);
  });
});

describe("answers are checked against the document", () => {
  const req = (method: string, path: string) => new Request(`http://sandbox.test${path}`, { method });
  const json = (body: unknown, status = 200) => Response.json(body, { status });

  it("passes an answer the document describes", async () => {
    const health = { success: true, data: { status: "ok", version: "1", backend: "cloudflare" } };
    await expect(checkAgainstDocument(req("GET", "/health"), json(health))).resolves.toBeUndefined();
    const refusal = { success: false, error: "no", code: "FILE_NOT_FOUND" };
    await expect(
      checkAgainstDocument(req("GET", "/sandboxes/p/files/a/b.txt"), json(refusal, 404)),
    ).resolves.toBeUndefined();
  });

  it("fails a body that does not match, a code or status the operation does not answer, an undocumented type", async () => {
    const fails = async (request: Request, res: Response, why: RegExp) =>
      await expect(checkAgainstDocument(request, res)).rejects.toThrow(why);
    // A field missing, a field too many, a field of the wrong type.
    await fails(
      req("GET", "/health"),
      json({ success: true, data: { status: "ok", backend: "cloudflare" } }),
      /version/,
    );
    await fails(
      req("GET", "/health"),
      json({ success: true, data: { status: "ok", version: "1", backend: "cloudflare", extra: 1 } }),
      /extra|additional/i,
    );
    await fails(
      req("POST", "/sandboxes/p/exec"),
      json({ success: true, data: { stdout: "", stderr: "", exitCode: "0", durationMs: 1 } }),
      /exitCode/,
    );
    // A code this operation never answers with this status, and a status it never answers.
    await fails(
      req("GET", "/sandboxes/p/files/x"),
      json({ success: false, error: "x", code: "JOB_NOT_FOUND" }, 404),
      /code/,
    );
    await fails(
      req("GET", "/health"),
      json({ success: false, error: "x", code: "CONFLICT" }, 409),
      /409 is not documented/,
    );
    // A media type the operation does not answer, and a route the document does not have.
    await fails(
      req("GET", "/health"),
      new Response("ok", { headers: { "content-type": "text/plain" } }),
      /text\/plain/,
    );
    await fails(req("GET", "/nowhere"), json({ success: true, data: {} }), /no documented operation/);
  });

  it("checks the events of a documented stream", async () => {
    const checker = await openApiChecker();
    const { matched } = checker.check(
      { method: "POST", path: "/sandboxes/p/exec" },
      { status: 200, contentType: "text/event-stream" },
    );
    expect(matched?.events).toBeDefined();
    if (!matched) return;
    expect(checker.checkEvent(matched, { type: "exit", exitCode: 0, durationMs: 3 })).toEqual([]);
    expect(checker.checkEvent(matched, { type: "exit", exitCode: "zero" }).length).toBeGreaterThan(0);
    expect(checker.checkEvent(matched, { type: "bogus" }).length).toBeGreaterThan(0);
  });
});
