/**
 * @module bench/direct
 * The "direct" path of bench/api.ts: the same two calls made straight to sandboxd's
 * own HTTP API (container/sandboxd/server.ts), with no Worker in between. Requests
 * mirror what src/backend/local.ts sends so the comparison is like for like.
 */
import { expectOk, type Op } from "./measure.ts";

/**
 * Against sandboxd at `url`: its unauthenticated /health (the floor: no sandbox work),
 * `exec true`, and a raw read of `filePath` (expected to be `fileBytes` long).
 */
export function directOps(
  url: string,
  token: string,
  projectId: string,
  filePath: string,
  fileBytes: number,
): { health: Op; exec: Op; read: Op } {
  const auth = { authorization: `Bearer ${token}` };
  const base = `${url}/projects/${encodeURIComponent(projectId)}`;
  return {
    health: async () => {
      await expectOk(await fetch(`${url}/health`), "health");
    },
    exec: async () => {
      const res = await fetch(`${base}/exec`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        // The Worker forwards its default timeout; send the same so sandboxd does the same work.
        body: JSON.stringify({ command: "true", timeoutMs: 60_000 }),
      });
      const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as { exitCode?: number };
      if (body.exitCode !== 0) throw new Error(`exec: exit code ${body.exitCode}`);
    },
    read: async () => {
      const res = await fetch(`${base}/files?path=${encodeURIComponent(filePath)}`, { headers: auth });
      const bytes = await expectOk(res, "read");
      if (bytes.byteLength !== fileBytes) throw new Error(`read: ${bytes.byteLength} bytes, expected ${fileBytes}`);
    },
  };
}
