/**
 * @module routes/sandboxes
 * Sandbox lifecycle: create-or-get, status, cleanup (kill processes) and destroy.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { DeleteSandboxQuerySchema, ProjectParamSchema } from "../schemas";
import { runForProject, runnerAvailable } from "../snapshots/runner-access";
import { ensureSync } from "../snapshots/sync";
import { onInvalid } from "../validation";

export function sandboxRoutes(deps: AppDeps): Hono {
  const { backend } = deps;
  return new Hono()
    .post("/:projectId", zValidator("param", ProjectParamSchema, onInvalid), async (c) => {
      const { projectId } = c.req.valid("param");
      const info = await backend.ensure(projectId);
      // A container's disk dies when it sleeps: a fresh workspace gets the head back
      // before anyone can work in it (or snapshot its emptiness over the head).
      // (Without a reachable runner API — a local sandboxd with no RUNNER_API_URL — there
      // is nothing to restore from; npm run dev always sets it.)
      let restoredSnapshot: string | null = null;
      let syncProcessId: string | null = null;
      if (runnerAvailable(deps)) {
        const restore = await runForProject(deps, projectId, "restore", ["--if-fresh"]);
        restoredSnapshot = restore.restored ? restore.snapshotId : null;
        // After the restore, so the sync's first snapshot starts from the restored head.
        if (deps.config.SYNC_ON_CREATE) syncProcessId = await ensureSync(deps, projectId);
      }
      return c.json({
        success: true,
        data: { ...info, restoredSnapshot, syncProcessId, message: "Sandbox ready" },
      });
    })
    .get("/:projectId", zValidator("param", ProjectParamSchema, onInvalid), async (c) => {
      const { projectId } = c.req.valid("param");
      return c.json({ success: true, data: await backend.status(projectId) });
    })
    .delete(
      "/:projectId",
      zValidator("param", ProjectParamSchema, onInvalid),
      zValidator("query", DeleteSandboxQuerySchema, onInvalid),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const query = c.req.valid("query");
        if (query.destroy) {
          // Work is never lost to a teardown: snapshot first (a failure aborts the destroy).
          let snapshotId: string | null = null;
          // Configured storage but an unreachable runner API fails here (503) rather than lose work.
          if (deps.snapshots && query.snapshot !== false) {
            snapshotId = (await runForProject(deps, projectId, "snapshot")).snapshotId;
          }
          await backend.destroy(projectId);
          return c.json({
            success: true,
            data: { projectId, status: "destroyed", snapshotId, message: "Sandbox destroyed" },
          });
        }
        const killed = await backend.killAllProcesses(projectId);
        return c.json({
          success: true,
          data: { projectId, status: "cleaned", killed, message: "All processes terminated" },
        });
      },
    );
}
