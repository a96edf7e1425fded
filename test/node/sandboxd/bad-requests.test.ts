/**
 * @module test/node/sandboxd/bad-requests.test
 * A corpus of malformed requests (bad JSON, wrong types, oversized bodies, bad
 * ids, traversal, unknown routes, wrong methods, bad auth): every one is answered
 * 4xx with `{ error, code }`, and sandboxd keeps serving afterwards.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, exec } from "./helpers.ts";

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ env: { SANDBOXD_MAX_JSON_BYTES: "4096", SANDBOXD_MAX_FILE_BYTES: "65536" } });
  await call(sd, "POST", "/projects/bad");
});
afterAll(async () => {
  await sd?.stop();
});

type Case = [
  label: string,
  method: string,
  path: string,
  opts: Parameters<typeof call>[3],
  status: number,
  code: string,
];

const json = (v: unknown) => ({
  body: typeof v === "string" ? v : JSON.stringify(v),
  headers: { "content-type": "application/json" },
});

const corpus: Case[] = [
  ["malformed JSON", "POST", "/projects/bad/exec", json("{not json"), 400, "INVALID_JSON"],
  ["empty body", "POST", "/projects/bad/exec", json(""), 400, "INVALID_JSON"],
  ["JSON array", "POST", "/projects/bad/exec", json([1, 2]), 400, "VALIDATION_ERROR"],
  ["JSON null", "POST", "/projects/bad/exec", json("null"), 400, "VALIDATION_ERROR"],
  ["command missing", "POST", "/projects/bad/exec", json({}), 400, "VALIDATION_ERROR"],
  ["command a number", "POST", "/projects/bad/exec", json({ command: 42 }), 400, "VALIDATION_ERROR"],
  ["command empty", "POST", "/projects/bad/exec", json({ command: "" }), 400, "VALIDATION_ERROR"],
  [
    "timeout a string",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", timeoutMs: "5" }),
    400,
    "VALIDATION_ERROR",
  ],
  ["timeout negative", "POST", "/projects/bad/exec", json({ command: "true", timeoutMs: -1 }), 400, "VALIDATION_ERROR"],
  ["env not an object", "POST", "/projects/bad/exec", json({ command: "true", env: "A=1" }), 400, "VALIDATION_ERROR"],
  [
    "env bad name",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", env: { "A=B": "1" } }),
    400,
    "VALIDATION_ERROR",
  ],
  [
    "env value a number",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", env: { A: 1 } }),
    400,
    "VALIDATION_ERROR",
  ],
  [
    "unknown field",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", shell: "/bin/zsh" }),
    400,
    "VALIDATION_ERROR",
  ],
  ["cwd a number", "POST", "/projects/bad/exec", json({ command: "true", cwd: 5 }), 400, "VALIDATION_ERROR"],
  [
    "cwd missing dir",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", cwd: "/workspace/nope" }),
    400,
    "INVALID_CWD",
  ],
  [
    "cwd traversal",
    "POST",
    "/projects/bad/exec",
    json({ command: "true", cwd: "/workspace/../" }),
    400,
    "INVALID_PATH",
  ],
  [
    "JSON body too large",
    "POST",
    "/projects/bad/exec",
    json({ command: "x".repeat(10_000) }),
    413,
    "PAYLOAD_TOO_LARGE",
  ],
  [
    "file too large",
    "PUT",
    "/projects/bad/files?path=/workspace/big",
    { body: "x".repeat(70_000) },
    413,
    "PAYLOAD_TOO_LARGE",
  ],
  ["stream bad body", "POST", "/projects/bad/exec/stream", json({ command: [] }), 400, "VALIDATION_ERROR"],
  ["process bad body", "POST", "/projects/bad/processes", json({ command: null }), 400, "VALIDATION_ERROR"],
  ["clone missing repo", "POST", "/projects/bad/clone", json({ directory: "/workspace/r" }), 400, "VALIDATION_ERROR"],
  [
    "clone file scheme",
    "POST",
    "/projects/bad/clone",
    json({ repoUrl: "file:///etc", directory: "/workspace/r" }),
    400,
    "INVALID_REPO_URL",
  ],
  [
    "clone ext transport",
    "POST",
    "/projects/bad/clone",
    json({ repoUrl: "ext::sh -c id", directory: "/workspace/r" }),
    400,
    "INVALID_REPO_URL",
  ],
  [
    "clone option branch",
    "POST",
    "/projects/bad/clone",
    json({ repoUrl: "https://x.test/r.git", directory: "/workspace/r", branch: "--upload-pack=id" }),
    400,
    "INVALID_REPO_URL",
  ],
  [
    "clone depth string",
    "POST",
    "/projects/bad/clone",
    json({ repoUrl: "https://x.test/r", directory: "/workspace/r", depth: "1" }),
    400,
    "VALIDATION_ERROR",
  ],
  ["uppercase project", "POST", "/projects/Bad", {}, 400, "INVALID_PROJECT_ID"],
  ["leading dash project", "POST", "/projects/-bad", {}, 400, "INVALID_PROJECT_ID"],
  ["64-char project", "POST", `/projects/${"a".repeat(64)}`, {}, 400, "INVALID_PROJECT_ID"],
  ["reserved project", "POST", "/projects/root", {}, 400, "INVALID_PROJECT_ID"],
  ["dotted project", "POST", "/projects/..x", {}, 400, "INVALID_PROJECT_ID"],
  ["encoded slash project", "POST", "/projects/a%2F..%2Fb", {}, 400, "INVALID_PROJECT_ID"],
  ["bad escape project", "POST", "/projects/%ZZ", {}, 400, "VALIDATION_ERROR"],
  ["traversal read", "GET", "/projects/bad/files?path=/workspace/../../etc/passwd", {}, 400, "INVALID_PATH"],
  ["outside read", "GET", "/projects/bad/files?path=/etc/passwd", {}, 400, "INVALID_PATH"],
  ["no path", "GET", "/projects/bad/files", {}, 400, "INVALID_PATH"],
  ["NUL path", "GET", "/projects/bad/files?path=/workspace/a%00b", {}, 400, "INVALID_PATH"],
  ["negative maxBytes", "GET", "/projects/bad/files?path=/workspace/x&maxBytes=-1", {}, 400, "VALIDATION_ERROR"],
  ["bad recursive", "GET", "/projects/bad/list?path=/workspace&recursive=yes", {}, 400, "VALIDATION_ERROR"],
  ["read a directory", "GET", "/projects/bad/files?path=/workspace", {}, 400, "IS_A_DIRECTORY"],
  ["missing file", "GET", "/projects/bad/files?path=/workspace/none", {}, 404, "FILE_NOT_FOUND"],
  ["bad process id", "GET", "/projects/bad/processes/..%2F..", {}, 404, "PROCESS_NOT_FOUND"],
  ["unknown process", "DELETE", "/projects/bad/processes/p_0123456789abcdef", {}, 404, "PROCESS_NOT_FOUND"],
  ["unknown sandbox", "GET", "/projects/never-made", {}, 404, "SANDBOX_NOT_FOUND"],
  ["unknown route", "GET", "/nope", {}, 404, "ROUTE_NOT_FOUND"],
  ["unknown subroute", "GET", "/projects/bad/whatever", {}, 404, "ROUTE_NOT_FOUND"],
  ["wrong method", "PATCH", "/projects/bad/exec", {}, 405, "METHOD_NOT_ALLOWED"],
  ["no token", "POST", "/projects/bad/exec", { ...json({ command: "true" }), token: null }, 401, "UNAUTHORIZED"],
  ["wrong token", "GET", "/projects/bad", { token: "nope" }, 401, "UNAUTHORIZED"],
];

/** A raw request whose body is sent slowly and never finishes declaring 1 GiB. */
function hugeDeclaredBody(): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${sd.url}/projects/bad/files?path=/workspace/huge`);
    const req = request(
      url,
      { method: "PUT", headers: { authorization: `Bearer ${sd.token}`, "content-length": String(1024 ** 3) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on("error", reject);
    req.write(Buffer.alloc(1024));
  });
}

describe("sandboxd answers bad requests with 4xx and stays up", () => {
  it.each(corpus)("%s", async (_label, method, path, opts, status, code) => {
    const r = await call(sd, method, path, opts);
    expect(r.status).toBe(status);
    expect(r.json).toMatchObject({ code, error: expect.any(String) });
  });

  it("refuses a declared 1 GiB upload without reading it", async () => {
    expect(await hugeDeclaredBody()).toBe(413);
  });

  it("is still healthy and serving after the whole corpus", async () => {
    expect(sd.child.exitCode).toBeNull();
    expect((await call(sd, "GET", "/health", { token: null })).json).toMatchObject({ ok: true });
    expect((await exec(sd, "bad", "echo alive")).json).toMatchObject({ stdout: "alive\n", exitCode: 0 });
    expect(sd.output()).not.toMatch(/uncaught|unhandled/i);
  });
});
