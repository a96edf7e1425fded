/**
 * @module bench/worker
 * The Worker side of bench/api.ts: the calls made through the Worker's REST API
 * (the same for the workerd and the `wrangler dev` path), and the project set-up
 * they need. Requests mirror what a client of the API sends.
 */
import { randomBytes } from "node:crypto";
import { expectOk, type Op } from "./measure.ts";

/** The calls measured on one path. */
export interface PathOps {
  /** GET /health: no sandbox work, so it shows the fixed cost of the path itself. */
  health: Op;
  exec: Op;
  read: Op;
}

/** Against the Worker at `url`: /health, `exec true`, and a raw read of `filePath` (`fileBytes` long). */
export function workerOps(url: string, token: string, projectId: string, filePath: string, fileBytes: number): PathOps {
  const auth = { authorization: `Bearer ${token}` };
  return {
    health: async () => {
      await expectOk(await fetch(`${url}/health`), "health");
    },
    exec: async () => {
      const res = await fetch(`${url}/sandboxes/${projectId}/exec`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ command: "true" }),
      });
      const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as {
        data?: { exitCode?: number };
      };
      if (body.data?.exitCode !== 0) throw new Error(`exec: exit code ${body.data?.exitCode}`);
    },
    read: async () => {
      const res = await fetch(`${url}/sandboxes/${projectId}/files${filePath}`, {
        headers: { ...auth, accept: "application/octet-stream" },
      });
      const bytes = await expectOk(res, "read");
      if (bytes.byteLength !== fileBytes) throw new Error(`read: ${bytes.byteLength} bytes, expected ${fileBytes}`);
    },
  };
}

/** Creates the project through the Worker and writes `fileBytes` random bytes to `filePath`. */
export async function setUpProject(
  url: string,
  token: string,
  projectId: string,
  filePath: string,
  fileBytes: number,
): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  await expectOk(await fetch(`${url}/sandboxes/${projectId}`, { method: "POST", headers: auth }), "create");
  const put = await fetch(`${url}/sandboxes/${projectId}/files${filePath}`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/octet-stream" },
    body: randomBytes(fileBytes),
  });
  await expectOk(put, "write");
}
