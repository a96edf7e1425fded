/**
 * Cross-cutting behaviour of the app: bearer auth (fail closed), CORS off unless
 * allow-listed, 404 and 405 in the envelope, bodies over the limit.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import { loadConfig } from "../../src/config";
import { api, apiJson, TOKEN, uniqueProject } from "./support/http";

function appWith(overrides: Record<string, string | undefined>) {
  const config = loadConfig({ ...env, ...overrides } as Record<string, unknown>);
  const backend = createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" });
  return createApp({ backend, config, version: "0.0.0-test" });
}

describe("auth", () => {
  it("refuses a missing or wrong token with 401 UNAUTHORIZED", async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer wrong" },
      { authorization: `Basic ${TOKEN}` },
    ];
    for (const headers of attempts) {
      const res = await api(`/sandboxes/${uniqueProject()}`, { method: "POST", headers, auth: false });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ success: false, code: "UNAUTHORIZED" });
    }
  });

  it("tells a missing token from a wrong one", async () => {
    const message = async (headers: Record<string, string>) => {
      const res = await api(`/sandboxes/${uniqueProject()}`, { method: "POST", headers, auth: false });
      const body = (await res.json()) as { code: string; error: string };
      expect([res.status, body.code]).toEqual([401, "UNAUTHORIZED"]);
      return body.error;
    };
    expect(await message({})).toBe("Missing Authorization: Bearer <token> header");
    expect(await message({ authorization: "Bearer wrong" })).toBe("The bearer token is not valid");
    expect(await message({ authorization: `Basic ${TOKEN}` })).toBe("The Authorization header must be: Bearer <token>");
  });

  it("fails closed when no API_TOKEN is configured", async () => {
    const app = appWith({ API_TOKEN: undefined });
    const res = await app.request(`/sandboxes/${uniqueProject()}`, {
      method: "POST",
      headers: { authorization: "Bearer anything" },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "UNAUTHORIZED", error: expect.stringContaining("not configured") });
    expect((await app.request("/health")).status).toBe(200);
  });
});

describe("CORS", () => {
  it("sends no CORS headers unless origins are allow-listed", async () => {
    const res = await api("/health", { headers: { origin: "https://app.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers allow-listed origins only", async () => {
    const app = appWith({ CORS_ORIGINS: "https://app.example, https://other.example" });
    const ok = await app.request("/health", { headers: { origin: "https://app.example" } });
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const preflight = await app.request("/sandboxes/x/exec", {
      method: "OPTIONS",
      headers: { origin: "https://other.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://other.example");
    const evil = await app.request("/health", { headers: { origin: "https://evil.example" } });
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("unknown routes and methods", () => {
  it("answers 404 ROUTE_NOT_FOUND in the envelope", async () => {
    const { status, body } = await apiJson("/nope");
    expect(status).toBe(404);
    expect(body).toMatchObject({ success: false, code: "ROUTE_NOT_FOUND" });
  });

  it("answers 405 METHOD_NOT_ALLOWED with an Allow header", async () => {
    const res = await api(`/sandboxes/${uniqueProject()}/exec`, { method: "GET" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toMatchObject({ success: false, code: "METHOD_NOT_ALLOWED" });
    const health = await api("/health", { method: "DELETE" });
    expect(health.status).toBe(405);
  });
});

describe("limits", () => {
  it("answers 413 for a file over MAX_FILE_BYTES and writes nothing", async () => {
    const app = appWith({ MAX_FILE_BYTES: "1024" });
    const p = uniqueProject("limit");
    const auth = { authorization: `Bearer ${TOKEN}` };
    await app.request(`/sandboxes/${p}`, { method: "POST", headers: auth });
    const res = await app.request(`/sandboxes/${p}/files/workspace/big.bin`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/octet-stream" },
      body: new Uint8Array(4096),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE" });
    const read = await app.request(`/sandboxes/${p}/files/workspace/big.bin`, { headers: auth });
    expect(read.status).toBe(404);
  });

  it("answers 413 from a declared Content-Length over the limit, without reading the body", async () => {
    const p = uniqueProject("limit");
    // A body that never ends: only an answer that ignores it can arrive.
    const never = () => new ReadableStream<Uint8Array>({ pull: () => new Promise<void>(() => {}) });
    const huge = String(64 * 1024 * 1024 * 1024);
    for (const [method, path, type] of [
      ["POST", `/sandboxes/${p}/exec`, "application/json"],
      ["PUT", `/sandboxes/${p}/files/workspace/big.bin`, "application/octet-stream"],
      ["POST", "/jobs", "application/json"],
    ] as const) {
      const res = await api(path, {
        method,
        headers: { "content-type": type, "content-length": huge },
        body: never(),
        // @ts-expect-error: workerd takes `duplex` like Node; streamed request bodies need it elsewhere.
        duplex: "half",
      });
      expect(res.status, `${method} ${path}`).toBe(413);
      expect(await res.json()).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE" });
    }
  });

  it("answers 413 when reading a file over MAX_FILE_BYTES", async () => {
    const p = uniqueProject("limit");
    await api(`/sandboxes/${p}`, { method: "POST" });
    await api(`/sandboxes/${p}/exec`, { method: "POST", json: { command: "head -c 4096 /dev/zero > big.bin" } });
    const app = appWith({ MAX_FILE_BYTES: "1024" });
    const res = await app.request(`/sandboxes/${p}/files/workspace/big.bin`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(413);
  });
});
