/**
 * The ensure step's failure path (src/sandboxes/ready.ts): a fresh workspace whose
 * restore fails answers 503 RESTORE_FAILED, and the request's own work never runs.
 * The sandbox is real (the cloudflare backend on a local jail); only the runner's
 * answer to the restore is stood in, since in the workers project no sandbox can
 * reach the Worker's runner API. The success paths run end to end with the real
 * runner in test/node/no-lost-work.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import type { SandboxBackend } from "../../src/backend/types";
import { loadConfig } from "../../src/config";
import { TOKEN, uniqueProject } from "./support/http";
import { snapshotsAt } from "./support/snapshots";

const real = createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" });

/** The real backend; `restore` commands answer as a runner whose restore failed. */
function failingRestores(restores: string[]): SandboxBackend {
  return Object.assign(Object.create(real) as SandboxBackend, {
    exec: async (projectId: string, req: { command: string; timeoutMs: number }) => {
      if (!req.command.includes("'restore'")) return real.exec(projectId, req);
      restores.push(projectId);
      const result = {
        ok: false,
        command: "restore",
        code: "RESTORE_INCOMPLETE",
        error: "2 file(s) could not be restored",
      };
      return { stdout: `${JSON.stringify(result)}\n`, stderr: "", exitCode: 1, durationMs: 5 };
    },
  });
}

function appWith(backend: SandboxBackend) {
  const config = loadConfig({ ...env } as Record<string, unknown>);
  const snapshots = snapshotsAt("http://runner.invalid");
  return createApp({ backend, config, version: "test", snapshots });
}

describe("the ensure step when the restore fails", () => {
  it("answers 503 RESTORE_FAILED, runs nothing, and tries again on the next call", async () => {
    const restores: string[] = [];
    const app = appWith(failingRestores(restores));
    const p = uniqueProject("ready");
    const call = (path: string, init: RequestInit & { json?: unknown } = {}) =>
      app.request(path, {
        ...init,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: init.json === undefined ? init.body : JSON.stringify(init.json),
      });

    for (const [path, init] of [
      [`/sandboxes/${p}/exec`, { method: "POST", json: { command: "touch /workspace/ran" } }],
      [`/sandboxes/${p}/files/workspace/put.txt`, { method: "PUT", json: { content: "x" } }],
      [`/sandboxes/${p}/processes`, { method: "POST", json: { command: "touch /workspace/started" } }],
      [`/sandboxes/${p}`, { method: "POST" }],
    ] as const) {
      const res = await call(path, init);
      expect(res.status, path).toBe(503);
      const body = (await res.json()) as { code: string; error: string; details: unknown };
      expect(body).toMatchObject({ code: "RESTORE_FAILED", details: { cause: "RESTORE_INCOMPLETE" } });
      expect(body.error).toContain("could not be restored");
    }
    // Every call tried the restore again (the workspace is still fresh) …
    expect(restores).toEqual([p, p, p, p]);
    // … and none of them touched the workspace.
    expect(await real.list(p, "/workspace", { recursive: true })).toEqual([]);
    // Status still answers, and starts nothing.
    expect((await call(`/sandboxes/${p}`)).status).toBe(200);
  });
});
