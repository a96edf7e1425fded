/**
 * @module test/node/sandboxd/bad-requests.test
 * A corpus of malformed requests to the routes sandboxd has (/health, /jails and a
 * jail's /wait, /signal and /container proxy): unknown routes, wrong methods, bad and
 * badly encoded jail ids, bad /signal bodies (bad JSON, wrong types, unknown fields,
 * oversized), unknown jails and bad auth. Each is answered 4xx with `{ error, code }`
 * (503 for a jail that does not run); requests sent raw, so no client normalises them.
 * Then abuse at the HTTP level and through the proxy (truncated bodies, oversized
 * headers, garbage); sandboxd and a running jail keep serving afterwards.
 */
import { existsSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, execInJail, jailDir, newJailId, runtimeEnv, startJail } from "./helpers.ts";

const env = await runtimeEnv();
/** A running jail: every /signal body below is refused, or it would be signalled. */
const J = newJailId();
/** A well-formed id of a jail that never existed. */
const NONE = newJailId();

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ env: { ...env, SANDBOXD_MAX_JSON_BYTES: "4096" } });
  await startJail(sd, J);
});
afterAll(async () => {
  await sd?.stop();
});

interface Raw {
  status: number;
  json: Record<string, unknown> | null;
  text: string;
}

/** One request with `path` sent exactly as given (fetch would normalise dot segments and escapes). */
function raw(
  method: string,
  path: string,
  opts: { body?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Raw> {
  const url = new URL(sd.url);
  const token = opts.token === undefined ? sd.token : opts.token;
  const headers: Record<string, string> = { ...opts.headers };
  if (token !== null) headers.authorization ??= `Bearer ${token}`;
  if (opts.body !== undefined) headers["content-type"] ??= "application/json";
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        let json: Record<string, unknown> | null = null;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

type Case = [
  label: string,
  method: string,
  path: string,
  opts: Parameters<typeof raw>[2],
  status: number,
  code: string,
];

const signal = (body: unknown) => ({ body: typeof body === "string" ? body : JSON.stringify(body) });

const corpus: Case[] = [
  // Routes.
  ["unknown route", "GET", "/nope", {}, 404, "ROUTE_NOT_FOUND"],
  ["root", "GET", "/", {}, 404, "ROUTE_NOT_FOUND"],
  ["removed project API", "POST", "/projects/bad", {}, 404, "ROUTE_NOT_FOUND"],
  ["removed exec", "POST", "/projects/bad/exec", signal({ command: "id" }), 404, "ROUTE_NOT_FOUND"],
  ["removed files", "GET", "/projects/bad/files?path=/etc/passwd", {}, 404, "ROUTE_NOT_FOUND"],
  ["empty jail id", "GET", "/jails/", {}, 404, "ROUTE_NOT_FOUND"],
  ["empty jail id, container", "GET", "/jails//container/api/ping", {}, 404, "ROUTE_NOT_FOUND"],
  ["unknown jail subroute", "GET", `/jails/${J}/whatever`, {}, 404, "ROUTE_NOT_FOUND"],
  ["wait with a tail", "GET", `/jails/${J}/wait/x`, {}, 404, "ROUTE_NOT_FOUND"],
  ["container-ish prefix", "GET", `/jails/${J}/containerx/api/ping`, {}, 404, "ROUTE_NOT_FOUND"],
  // Dot segments are resolved before routing: they never become a jail id.
  ["dot-dot id", "GET", "/jails/..", {}, 404, "ROUTE_NOT_FOUND"],
  ["encoded dot-dot id", "GET", "/jails/%2e%2e/container/api/ping", {}, 404, "ROUTE_NOT_FOUND"],
  // Methods.
  ["POST /jails", "POST", "/jails", {}, 405, "METHOD_NOT_ALLOWED"],
  ["DELETE /jails", "DELETE", "/jails", {}, 405, "METHOD_NOT_ALLOWED"],
  ["PUT a jail", "PUT", `/jails/${J}`, {}, 405, "METHOD_NOT_ALLOWED"],
  ["PATCH a jail", "PATCH", `/jails/${J}`, {}, 405, "METHOD_NOT_ALLOWED"],
  ["POST wait", "POST", `/jails/${J}/wait`, {}, 405, "METHOD_NOT_ALLOWED"],
  ["GET signal", "GET", `/jails/${J}/signal`, {}, 405, "METHOD_NOT_ALLOWED"],
  ["DELETE signal", "DELETE", `/jails/${J}/signal`, {}, 405, "METHOD_NOT_ALLOWED"],
  ["POST health", "POST", "/health", {}, 405, "METHOD_NOT_ALLOWED"],
  // Ids (jails.test.ts has more).
  ["NUL in id", "POST", "/jails/a%00b", {}, 400, "INVALID_JAIL_ID"],
  ["newline in id", "GET", "/jails/a%0Ab/wait", {}, 400, "INVALID_JAIL_ID"],
  ["unicode id", "POST", "/jails/%E2%80%AEabc", {}, 400, "INVALID_JAIL_ID"],
  ["dot id", "POST", "/jails/a.b/signal", signal({ signal: "SIGTERM" }), 400, "INVALID_JAIL_ID"],
  ["encoded slash id, container", "GET", "/jails/a%2F..%2Fb/container/api/ping", {}, 400, "INVALID_JAIL_ID"],
  ["malformed escape", "POST", "/jails/%ZZ", {}, 400, "VALIDATION_ERROR"],
  ["truncated escape", "GET", "/jails/abc%2/wait", {}, 400, "VALIDATION_ERROR"],
  ["overlong UTF-8", "GET", "/jails/%C0%AF/container/api/ping", {}, 400, "VALIDATION_ERROR"],
  ["lone surrogate", "DELETE", "/jails/%ED%A0%80", {}, 400, "VALIDATION_ERROR"],
  // Jails that do not exist (or do not run).
  ["unknown jail", "GET", `/jails/${NONE}`, {}, 404, "JAIL_NOT_FOUND"],
  ["unknown jail wait", "GET", `/jails/${NONE}/wait`, {}, 404, "JAIL_NOT_FOUND"],
  ["unknown jail signal", "POST", `/jails/${NONE}/signal`, signal({ signal: "SIGKILL" }), 404, "JAIL_NOT_FOUND"],
  [
    "unknown jail container",
    "POST",
    `/jails/${NONE}/container/api/execute`,
    signal({ command: "id" }),
    503,
    "JAIL_NOT_RUNNING",
  ],
  // /signal bodies.
  ["malformed JSON", "POST", `/jails/${J}/signal`, signal("{not json"), 400, "INVALID_JSON"],
  ["empty body", "POST", `/jails/${J}/signal`, signal(""), 400, "INVALID_JSON"],
  ["JSON null", "POST", `/jails/${J}/signal`, signal("null"), 400, "VALIDATION_ERROR"],
  ["JSON array", "POST", `/jails/${J}/signal`, signal(["SIGTERM"]), 400, "VALIDATION_ERROR"],
  ["JSON string", "POST", `/jails/${J}/signal`, signal('"SIGTERM"'), 400, "VALIDATION_ERROR"],
  ["signal missing", "POST", `/jails/${J}/signal`, signal({}), 400, "VALIDATION_ERROR"],
  ["signal unlisted name", "POST", `/jails/${J}/signal`, signal({ signal: "SIGSTOP" }), 400, "VALIDATION_ERROR"],
  ["signal lower case", "POST", `/jails/${J}/signal`, signal({ signal: "sigterm" }), 400, "VALIDATION_ERROR"],
  ["signal number as string", "POST", `/jails/${J}/signal`, signal({ signal: "9" }), 400, "VALIDATION_ERROR"],
  ["signal 0 (a probe)", "POST", `/jails/${J}/signal`, signal({ signal: 0 }), 400, "VALIDATION_ERROR"],
  ["signal negative", "POST", `/jails/${J}/signal`, signal({ signal: -9 }), 400, "VALIDATION_ERROR"],
  ["signal 65", "POST", `/jails/${J}/signal`, signal({ signal: 65 }), 400, "VALIDATION_ERROR"],
  ["signal fractional", "POST", `/jails/${J}/signal`, signal({ signal: 9.5 }), 400, "VALIDATION_ERROR"],
  ["signal null", "POST", `/jails/${J}/signal`, signal({ signal: null }), 400, "VALIDATION_ERROR"],
  ["signal with a pid", "POST", `/jails/${J}/signal`, signal({ signal: "SIGTERM", pid: 1 }), 400, "VALIDATION_ERROR"],
  [
    "body too large",
    "POST",
    `/jails/${J}/signal`,
    signal({ signal: "SIGTERM", pad: "x".repeat(10_000) }),
    413,
    "PAYLOAD_TOO_LARGE",
  ],
  // Auth: every route but /health, the proxy included.
  ["no token", "GET", "/jails", { token: null }, 401, "UNAUTHORIZED"],
  ["wrong token", "GET", `/jails/${J}`, { token: "nope" }, 401, "UNAUTHORIZED"],
  ["token prefix", "GET", `/jails/${J}`, { token: "test-sandboxd-tok" }, 401, "UNAUTHORIZED"],
  [
    "lower-case scheme",
    "GET",
    "/jails",
    { headers: { authorization: "bearer test-sandboxd-token" } },
    401,
    "UNAUTHORIZED",
  ],
  ["two spaces", "GET", "/jails", { headers: { authorization: "Bearer  test-sandboxd-token" } }, 401, "UNAUTHORIZED"],
  [
    "basic auth",
    "GET",
    "/jails",
    { headers: { authorization: `Basic ${btoa("x:test-sandboxd-token")}` } },
    401,
    "UNAUTHORIZED",
  ],
  ["token in query", "GET", "/jails?token=test-sandboxd-token", { token: null }, 401, "UNAUTHORIZED"],
  [
    "no token, signal",
    "POST",
    `/jails/${J}/signal`,
    { ...signal({ signal: "SIGKILL" }), token: null },
    401,
    "UNAUTHORIZED",
  ],
  ["no token, destroy", "DELETE", `/jails/${J}`, { token: null }, 401, "UNAUTHORIZED"],
  [
    "no token, container",
    "POST",
    `/jails/${J}/container/api/execute`,
    { ...signal({ command: "id" }), token: null },
    401,
    "UNAUTHORIZED",
  ],
  ["no token, bad id", "POST", "/jails/bad.id", { token: null }, 401, "UNAUTHORIZED"],
];

/** A raw request that declares 1 GiB of body and sends 1 KiB; resolves with the status. */
function hugeDeclaredBody(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${sd.url}${path}`);
    const req = request(
      url,
      { method: "POST", headers: { authorization: `Bearer ${sd.token}`, "content-length": String(1024 ** 3) } },
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

/** Writes `text` on a raw connection; resolves with everything sent back until the server closes (or 3 s). */
function rawSocket(text: string | Buffer, closeAfterWrite = false): Promise<string> {
  const url = new URL(sd.url);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let all = "";
    socket.on("data", (c: Buffer) => {
      all += c.toString("latin1");
    });
    socket.on("close", () => resolve(all));
    socket.on("error", () => resolve(all));
    socket.write(text, () => {
      if (closeAfterWrite) socket.destroy();
    });
    setTimeout(() => socket.destroy(), 3000);
  });
}

describe("sandboxd answers bad requests with 4xx and stays up", () => {
  it.each(corpus)("%s", async (_label, method, path, opts, status, code) => {
    const r = await raw(method, path, opts);
    expect(r.status, r.text).toBe(status);
    expect(r.json).toMatchObject({ code, error: expect.any(String) });
  });

  it("creates nothing for an unauthenticated start", async () => {
    const id = newJailId();
    expect((await raw("POST", `/jails/${id}`, { token: null })).status).toBe(401);
    expect(existsSync(jailDir(sd, id))).toBe(false);
    expect((await call(sd, "GET", `/jails/${id}`)).json?.code).toBe("JAIL_NOT_FOUND");
  });

  it("refuses a declared 1 GiB /signal body without reading it", async () => {
    expect(await hugeDeclaredBody(`/jails/${J}/signal`)).toBe(413);
  });

  it("survives abuse at the HTTP level and through the proxy", async () => {
    const { host } = new URL(sd.url);
    const auth = `Authorization: Bearer ${sd.token}\r\n`;
    // Garbage, oversized headers (Node's own 400 / 431).
    expect(await rawSocket("\x00\x01\x02 not http\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
    expect(await rawSocket(`GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431 /,
    );
    // A body that stops short of its declared length, to sandboxd and through the proxy to the runtime.
    await rawSocket(
      `POST /jails/${J}/signal HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Length: 1000\r\n\r\n{"signal":`,
      true,
    );
    await rawSocket(
      `POST /jails/${J}/container/api/execute HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"command":"touch /workspace/half`,
      true,
    );
    // Malformed bodies reach the runtime, which answers them itself (sandboxd does not read them).
    for (const body of ["{not json", JSON.stringify({ command: 42 }), JSON.stringify([null])]) {
      const r = await raw("POST", `/jails/${J}/container/api/execute`, { body });
      expect(r.status, body).toBeGreaterThanOrEqual(400);
      expect(r.json?.code, body).toBeTypeOf("string");
    }
    // A proxied request the client abandons before the runtime answers.
    await rawSocket(
      `POST /jails/${J}/container/api/execute HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: 38\r\n\r\n{"command":"sleep 0.3; echo finished"}`,
      true,
    );
    expect(existsSync(`${jailDir(sd, J)}/workspace/half`)).toBe(false);
  });

  it("is still healthy and serving after the whole corpus, the jail included", async () => {
    expect(sd.child.exitCode).toBeNull();
    expect((await call(sd, "GET", "/health", { token: null })).json).toMatchObject({ ok: true });
    expect((await call(sd, "GET", "/jails")).json).toEqual({ jails: [{ id: J, running: true }] });
    expect((await call(sd, "GET", `/jails/${J}`)).json).toMatchObject({ running: true, exitCode: null });
    expect(await execInJail(sd, J, "echo alive")).toMatchObject({ stdout: "alive\n", exitCode: 0 });
    // Nothing uncaught, and no 500 (sandboxd logs the cause of each) but for the body cut short
    // above: sandboxd logs that client's hang-up as a failure (to a client that is gone).
    expect(sd.output()).not.toMatch(/uncaught|unhandled/i);
    expect(sd.output().replace(/^sandboxd: POST \/jails\/\w+\/signal failed: Error: aborted$/m, "")).not.toMatch(
      / failed:/,
    );
  });
});
