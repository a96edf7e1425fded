/**
 * @module bench/worker
 * The Worker side of bench/api.ts: the calls made through the Worker's REST API
 * (the same for the workerd and the `wrangler dev` path), and the sandbox set-up
 * they need. Requests mirror what a client of the API sends.
 */
import { expectOk, type Op } from "./measure.ts";

/** The calls measured on one path. */
export interface PathOps {
  /** GET /health: no sandbox work, so it shows the fixed cost of the path itself. */
  health: Op;
  /** `echo hi`, checked. */
  exec: Op;
  /** A read of the bench file, checked. */
  read: Op;
}

/** A fetch of the Worker at `url` with the API token. */
export function workerFetch(url: string, token: string) {
  return (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
    });
}

/** `echo hi` in sandbox `projectId` through the Worker at `url`; throws unless it printed `hi`. */
export function workerEcho(url: string, token: string, projectId: string): Op {
  const call = workerFetch(url, token);
  return async () => {
    const res = await call(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "echo hi" }),
    });
    const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as {
      data?: { exitCode?: number; stdout?: string };
    };
    if (body.data?.exitCode !== 0 || body.data.stdout !== "hi\n") throw new Error(`exec: ${JSON.stringify(body)}`);
  };
}

/** Against the Worker at `url`: /health, `echo hi`, and a raw read of `filePath` (`fileBytes` long). */
export function workerOps(url: string, token: string, projectId: string, filePath: string, fileBytes: number): PathOps {
  const call = workerFetch(url, token);
  return {
    health: async () => {
      await expectOk(await fetch(`${url}/health`), "health");
    },
    exec: workerEcho(url, token, projectId),
    read: async () => {
      const res = await call(`/sandboxes/${projectId}/files${filePath}`, {
        headers: { accept: "application/octet-stream" },
      });
      const bytes = await expectOk(res, "read");
      if (bytes.byteLength !== fileBytes) throw new Error(`read: ${bytes.byteLength} bytes, expected ${fileBytes}`);
    },
  };
}

/** Creates sandbox `projectId` through the Worker and writes `content` to `filePath`. */
export async function setUpSandbox(url: string, token: string, projectId: string, filePath: string, content: string) {
  const call = workerFetch(url, token);
  await expectOk(await call(`/sandboxes/${projectId}`, { method: "POST" }), "create");
  const put = await call(`/sandboxes/${projectId}/files${filePath}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: content,
  });
  await expectOk(put, "write");
}
