/**
 * Every route fed a corpus of bad input: malformed JSON, wrong types, missing and
 * unknown fields, bad ids, traversal, NUL bytes, escaping symlinks, oversized
 * bodies. Each must get a 4xx envelope with a code — never a 500 — and sandboxd
 * must still serve afterwards.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { api, apiJson, uniqueProject } from "./support/http";

interface Case {
  name: string;
  method: string;
  path: string;
  body?: BodyInit;
  contentType?: string;
  /** Exact status when it matters; any 4xx otherwise. */
  status?: number;
  code?: string;
}

const p = uniqueProject("bad");
const secret = "s3cr3t-token";

const badIds = ["UPPER", "-lead", "trail-", "a".repeat(64), "www", "under_score", "dot.ted", "sp%20ace", "nul%00"];
const json = (value: unknown) => JSON.stringify(value);

const cases: Case[] = [
  ...badIds.flatMap((id): Case[] => [
    { name: `create ${id}`, method: "POST", path: `/sandboxes/${id}`, status: 400, code: "VALIDATION_ERROR" },
    { name: `exec ${id}`, method: "POST", path: `/sandboxes/${id}/exec`, body: json({ command: "true" }), status: 400 },
    { name: `read ${id}`, method: "GET", path: `/sandboxes/${id}/files/workspace/a`, status: 400 },
  ]),
  // exec bodies
  ...[
    ["malformed", "{", "INVALID_JSON"],
    ["array", "[]", "VALIDATION_ERROR"],
    ["null", "null", "VALIDATION_ERROR"],
    ["number command", json({ command: 5 }), "VALIDATION_ERROR"],
    ["missing command", json({}), "VALIDATION_ERROR"],
    ["empty command", json({ command: "" }), "VALIDATION_ERROR"],
    ["unknown field", json({ command: "true", shell: "/bin/zsh" }), "VALIDATION_ERROR"],
    ["bad env name", json({ command: "true", env: { "BAD NAME": "x" } }), "VALIDATION_ERROR"],
    ["env not strings", json({ command: "true", env: { A: 1 } }), "VALIDATION_ERROR"],
    ["negative timeout", json({ command: "true", timeoutMs: -1 }), "VALIDATION_ERROR"],
    ["string timeout", json({ command: "true", timeoutMs: "100" }), "VALIDATION_ERROR"],
    ["stream not boolean", json({ command: "true", stream: "yes" }), "VALIDATION_ERROR"],
    ["cwd traversal", json({ command: "true", cwd: "/workspace/../etc" }), "INVALID_PATH"],
    ["cwd relative", json({ command: "true", cwd: "sub" }), "INVALID_PATH"],
    ["cwd nul", json({ command: "true", cwd: "/workspace/a\u0000b" }), "INVALID_PATH"],
    ["huge command", json({ command: "x".repeat(70_000) }), "VALIDATION_ERROR"],
  ].map(
    ([name, body, code]): Case => ({
      name: `exec ${name}`,
      method: "POST",
      path: `/sandboxes/${p}/exec`,
      body,
      code,
      status: 400,
    }),
  ),
  {
    name: "exec cwd elsewhere",
    method: "POST",
    path: `/sandboxes/${p}/exec`,
    body: json({ command: "true", cwd: "/etc" }),
    status: 403,
    code: "PATH_FORBIDDEN",
  },
  {
    name: "exec oversized body",
    method: "POST",
    path: `/sandboxes/${p}/exec`,
    body: json({ command: "true", pad: "x".repeat(2 * 1024 * 1024) }),
    status: 413,
    code: "PAYLOAD_TOO_LARGE",
  },
  // clone bodies
  ...[
    ["file scheme", { repoUrl: "file:///etc" }, "INVALID_REPO_URL"],
    ["ssh scheme", { repoUrl: "ssh://git@example.com/x.git" }, "INVALID_REPO_URL"],
    ["ext transport", { repoUrl: "ext::sh -c touch% /tmp/pwned" }, "INVALID_REPO_URL"],
    ["not a url", { repoUrl: "not a url" }, "INVALID_REPO_URL"],
    ["credentials + bad scheme", { repoUrl: `ftp://user:${secret}@example.com/x.git` }, "INVALID_REPO_URL"],
    [
      "option as branch",
      { repoUrl: "https://example.com/x.git", branch: "--upload-pack=touch /tmp/x" },
      "INVALID_BRANCH",
    ],
    ["zero depth", { repoUrl: "https://example.com/x.git", depth: 0 }, "VALIDATION_ERROR"],
    ["string depth", { repoUrl: "https://example.com/x.git", depth: "1" }, "VALIDATION_ERROR"],
    ["directory traversal", { repoUrl: "https://example.com/x.git", directory: "/workspace/../x" }, "INVALID_PATH"],
    ["missing url", {}, "VALIDATION_ERROR"],
  ].map(
    ([name, body, code]): Case => ({
      name: `clone ${name}`,
      method: "POST",
      path: `/sandboxes/${p}/clone`,
      body: json(body),
      code: code as string,
      status: 400,
    }),
  ),
  {
    name: "clone into /etc",
    method: "POST",
    path: `/sandboxes/${p}/clone`,
    body: json({ repoUrl: "https://example.com/x.git", directory: "/etc/x" }),
    status: 403,
  },
  // file paths and bodies
  {
    name: "read outside workspace",
    method: "GET",
    path: `/sandboxes/${p}/files/etc/passwd`,
    status: 403,
    code: "PATH_FORBIDDEN",
  },
  {
    name: "read encoded traversal",
    method: "GET",
    path: `/sandboxes/${p}/files/workspace/..%2f..%2fetc%2fpasswd`,
    status: 400,
    code: "INVALID_PATH",
  },
  { name: "read nul", method: "GET", path: `/sandboxes/${p}/files/workspace/a%00b`, status: 400, code: "INVALID_PATH" },
  {
    name: "read bad encoding",
    method: "GET",
    path: `/sandboxes/${p}/files/workspace/%E0%A4%A`,
    status: 400,
    code: "INVALID_PATH",
  },
  { name: "read no path", method: "GET", path: `/sandboxes/${p}/files/`, status: 400 },
  {
    name: "read bad encoding param",
    method: "GET",
    path: `/sandboxes/${p}/files/workspace/a?encoding=latin1`,
    status: 400,
  },
  {
    name: "write outside workspace",
    method: "PUT",
    path: `/sandboxes/${p}/files/etc/evil`,
    body: json({ content: "x" }),
    status: 403,
  },
  {
    name: "write malformed json",
    method: "PUT",
    path: `/sandboxes/${p}/files/workspace/a`,
    body: "{",
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "write content not string",
    method: "PUT",
    path: `/sandboxes/${p}/files/workspace/a`,
    body: json({ content: 5 }),
    status: 400,
  },
  {
    name: "write bad base64",
    method: "PUT",
    path: `/sandboxes/${p}/files/workspace/a`,
    body: json({ content: "%%%", encoding: "base64" }),
    status: 400,
    code: "INVALID_BASE64",
  },
  {
    name: "write unknown encoding",
    method: "PUT",
    path: `/sandboxes/${p}/files/workspace/a`,
    body: json({ content: "x", encoding: "utf16" }),
    status: 400,
  },
  {
    name: "write form data",
    method: "PUT",
    path: `/sandboxes/${p}/files/workspace/a`,
    body: "a=b",
    contentType: "application/x-www-form-urlencoded",
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  { name: "delete outside workspace", method: "DELETE", path: `/sandboxes/${p}/files/etc/passwd`, status: 403 },
  // listings
  { name: "ls elsewhere", method: "GET", path: `/sandboxes/${p}/ls?path=/etc`, status: 403 },
  { name: "ls relative", method: "GET", path: `/sandboxes/${p}/ls?path=sub`, status: 400 },
  { name: "ls bad recursive", method: "GET", path: `/sandboxes/${p}/ls?recursive=maybe`, status: 400 },
  // processes
  { name: "process bad id", method: "GET", path: `/sandboxes/${p}/processes/a%20b`, status: 400 },
  { name: "process empty body", method: "POST", path: `/sandboxes/${p}/processes`, body: json({}), status: 400 },
  {
    name: "process malformed",
    method: "POST",
    path: `/sandboxes/${p}/processes`,
    body: "{{",
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "process cwd elsewhere",
    method: "POST",
    path: `/sandboxes/${p}/processes`,
    body: json({ command: "true", cwd: "/root" }),
    status: 403,
  },
  { name: "destroy flag not boolean", method: "DELETE", path: `/sandboxes/${p}?destroy=maybe`, status: 400 },
  // JSON routes refuse other media types up front (curl -d sends form encoding).
  ...[
    ["exec", `/sandboxes/${p}/exec`, json({ command: "true" })],
    ["clone", `/sandboxes/${p}/clone`, json({ repoUrl: "https://example.com/x.git" })],
    ["processes", `/sandboxes/${p}/processes`, json({ command: "true" })],
    ["restore", `/sandboxes/${p}/restore`, json({})],
    ["jobs", "/jobs", json({ projectId: p, prompt: "p", agent: "shell", command: "true" })],
    ["run-job", "/run-job", json({ jobId: "job_x" })],
  ].flatMap(([name, path, body]): Case[] =>
    ["text/plain", "application/x-www-form-urlencoded"].map((contentType) => ({
      name: `${name} as ${contentType}`,
      method: "POST",
      path: path as string,
      body,
      contentType,
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
    })),
  ),
];

describe("bad input gets a clear 4xx and loses nothing", () => {
  beforeAll(async () => {
    expect((await apiJson(`/sandboxes/${p}`, { method: "POST" })).status).toBe(200);
    await api(`/sandboxes/${p}/files/workspace/keep.txt`, { method: "PUT", json: { content: "precious" } });
  });

  it.each(cases)("$name", async (c) => {
    const headers: Record<string, string> = {};
    if (c.body !== undefined) headers["content-type"] = c.contentType ?? "application/json";
    const res = await api(c.path, { method: c.method, body: c.body, headers });
    const body = (await res.json()) as { success: boolean; code: string; error: string };
    expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
    expect(res.status, JSON.stringify(body)).toBeLessThan(500);
    if (c.status) expect(res.status, JSON.stringify(body)).toBe(c.status);
    expect(body.success).toBe(false);
    expect(body.code).toMatch(/^[A-Z][A-Z0-9_]+$/);
    if (c.code) expect(body.code).toBe(c.code);
    expect(JSON.stringify(body)).not.toContain(secret);
  });

  it("says which field is wrong in plain words", async () => {
    const expectations: Array<[string, unknown, string]> = [
      ["exec", {}, "command is required"],
      ["exec", { command: 5 }, "command must be a string, not a number"],
      ["exec", { command: "" }, "command must not be empty"],
      ["exec", { command: "true", timeoutMs: -1 }, "timeoutMs must be a positive number"],
      ["exec", { command: "true", timeoutMs: 1.5 }, "timeoutMs must be an integer"],
      ["exec", { command: "true", stream: "yes" }, "stream must be a boolean, not a string"],
      ["exec", { command: "true", shell: "zsh" }, 'Unknown field "shell"'],
      ["exec", [], "The request body must be a JSON object, not an array"],
      ["exec", { command: "true", env: { A: 1 } }, "env.A must be a string, not a number"],
      [
        "exec",
        { command: "true", env: { "BAD NAME": "x" } },
        'env names must be valid shell variable names ("BAD NAME")',
      ],
      ["clone", { repoUrl: "https://example.com/x.git", depth: 0 }, "depth must be at least 1"],
      ["clone", {}, "repoUrl is required"],
    ];
    for (const [route, body, message] of expectations) {
      const res = await apiJson(`/sandboxes/${p}/${route}`, { method: "POST", json: body });
      expect(res.body.error, JSON.stringify(body)).toBe(message);
      expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", details: { issues: [expect.any(Object)] } });
    }
    const query = await apiJson(`/sandboxes/${p}/ls?recursive=maybe`);
    expect(query.body.error).toBe('recursive must be one of "0", "1", "true", "false"');
    const several = await apiJson(`/sandboxes/${p}/exec`, { method: "POST", json: { timeoutMs: "5" } });
    expect(several.body.error).toBe("command is required; timeoutMs must be a number, not a string");
  });

  it("answers a JSON route sent no body as the validator does, and one sent form data with 415", async () => {
    const empty = await apiJson(`/sandboxes/${p}/exec`, { method: "POST" });
    expect([empty.status, empty.body.error]).toEqual([400, "command is required"]);
    const form = await apiJson(`/sandboxes/${p}/exec`, {
      method: "POST",
      body: "command=ls",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect([form.status, form.body.code]).toEqual([415, "UNSUPPORTED_MEDIA_TYPE"]);
    expect(form.body.error).toContain("Content-Type: application/json");
    const charset = await apiJson(`/sandboxes/${p}/exec`, {
      method: "POST",
      body: json({ command: "echo ok" }),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(charset.body.data).toMatchObject({ stdout: "ok\n" });
  });

  it("kept the workspace intact and sandboxd serving", async () => {
    const file = await apiJson(`/sandboxes/${p}/files/workspace/keep.txt`);
    expect(file.body.data).toMatchObject({ content: "precious" });
    const alive = await apiJson(`/sandboxes/${p}/exec`, { method: "POST", json: { command: "echo alive" } });
    expect(alive.body.data).toMatchObject({ stdout: "alive\n", exitCode: 0 });
  });
});
