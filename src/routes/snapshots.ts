/**
 * @module routes/snapshots
 * Workspace snapshots for users: take one now, list them, restore one. The work
 * happens in the sandbox (the runner), the storage behind the runner API.
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import { requireSnapshots, runForProject } from "../runner-driver/access";
import { ensureReady } from "../sandboxes/ready";
import { ProjectParamSchema, RestoreBodySchema } from "../schemas";
import { validate } from "../validation";

export function snapshotRoutes(deps: AppDeps): Hono {
  return new Hono()
    .post("/:projectId/snapshots", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      await ensureReady(deps, projectId);
      const { ok: _ok, command: _command, ...result } = await runForProject(deps, projectId, "snapshot");
      return ok(c, result, 201);
    })
    .get("/:projectId/snapshots", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const snapshots = requireSnapshots(deps);
      const list = await snapshots.listSnapshots(projectId);
      return ok(c, { head: await snapshots.getHead(projectId), snapshots: list });
    })
    .post(
      "/:projectId/restore",
      jsonBody(),
      validate("param", ProjectParamSchema),
      validate("json", RestoreBodySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const { snapshotId } = c.req.valid("json");
        await ensureReady(deps, projectId);
        const args = snapshotId ? ["--snapshot", snapshotId] : [];
        // The runner holds the workspace lock: no other restore or snapshot interleaves.
        const { ok: _ok, command: _command, ...result } = await runForProject(deps, projectId, "restore", args);
        return ok(c, result);
      },
    );
}
