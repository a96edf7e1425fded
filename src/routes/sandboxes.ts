/**
 * @module routes/sandboxes
 * Sandbox lifecycle: create-or-get, status, cleanup (kill the user's processes)
 * and destroy (snapshot, then tear down; a second destroy changes nothing).
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { AppError } from "../errors";
import { hasBody, jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import { snapshotBeforeStop } from "../runner-driver/access";
import { isInternalProcess } from "../runner-driver/run";
import { ensureReady } from "../sandboxes/ready";
import { recordDestroy } from "../sandboxes/registry";
import { currentStatus } from "../sandboxes/status";
import {
  CreateSandboxBodySchema,
  DeleteSandboxQuerySchema,
  ListSandboxesQuerySchema,
  ProjectParamSchema,
} from "../schemas";
import { parseOrThrow, readJson, validate } from "../validation";

/** The idle TTL a create sets, which needs the registry (D1) the cron round reads it from. */
async function applyIdleTtl(deps: AppDeps, projectId: string, idleTtl: number | null | undefined): Promise<void> {
  if (idleTtl === undefined) return;
  if (!deps.sandboxes) {
    throw new AppError(
      "idleTtl needs the D1 database (bind it as DB): the cron round finds idle sandboxes there",
      "REGISTRY_UNAVAILABLE",
    );
  }
  await deps.sandboxes.setIdleTtl(projectId, idleTtl);
}

export function sandboxRoutes(deps: AppDeps): Hono {
  const { backend, sandboxes } = deps;
  const app = new Hono();
  if (sandboxes) {
    app.get("/", validate("query", ListSandboxesQuerySchema), async (c) => {
      return ok(c, await sandboxes.list(c.req.valid("query")));
    });
  }
  return app
    .post("/:projectId", jsonBody(), validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      // Settings first, so the processes the ensure step starts see them (none: leave them be).
      const { idleTtl, ...settings } = hasBody(c.req.raw)
        ? parseOrThrow(CreateSandboxBodySchema, await readJson(c.req), "json")
        : {};
      await applyIdleTtl(deps, projectId, idleTtl);
      const applied = await backend.applySettings(projectId, settings);
      // The ensure step every route takes (sandboxes/ready.ts); create also makes sure sync runs.
      const { initialized: _i, started: _s, ...ready } = await ensureReady(deps, projectId, { alwaysSync: true });
      const idle = (await sandboxes?.idleTtlOf(projectId)) ?? null;
      return ok(c, { ...ready, settings: { ...applied, idleTtl: idle }, message: "Sandbox ready" });
    })
    .get("/:projectId", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const status = await backend.status(projectId);
      const idleTtl = (await sandboxes?.idleTtlOf(projectId)) ?? null;
      return ok(c, { ...status, settings: { ...(await backend.readSettings(projectId)), idleTtl } });
    })
    .delete(
      "/:projectId",
      validate("param", ProjectParamSchema),
      validate("query", DeleteSandboxQuerySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const query = c.req.valid("query");
        if (query.destroy) {
          const current = await currentStatus(deps, projectId);
          if (current?.status !== "ready") {
            // Destroyed already (a client's retry) or asleep: its disk is gone, there is
            // nothing to snapshot, and the head must not move to an empty tree.
            if (current) await backend.destroy(projectId);
            await recordDestroy(deps.sandboxes, projectId);
            return ok(c, {
              projectId,
              status: "destroyed",
              snapshotId: null,
              alreadyStopped: true,
              message: "Sandbox was not running; nothing to snapshot",
            });
          }
          // Work is never lost to a teardown: snapshot first (a failure aborts the destroy;
          // configured storage but an unreachable runner API answers 503 rather than lose work).
          const snapshotId =
            deps.snapshots && query.snapshot !== false ? await snapshotBeforeStop(deps, projectId) : null;
          await backend.destroy(projectId);
          await recordDestroy(deps.sandboxes, projectId);
          return ok(c, {
            projectId,
            status: "destroyed",
            snapshotId,
            alreadyStopped: false,
            message: "Sandbox destroyed",
          });
        }
        // The Worker's own processes (sync watcher, run-job) survive a cleanup.
        const internal = (await backend.listProcesses(projectId))
          .filter((p) => p.status === "running" && isInternalProcess(p))
          .map((p) => p.id);
        const killed = await backend.killAllProcesses(projectId, internal);
        return ok(c, { projectId, status: "cleaned", killed, message: "All processes terminated" });
      },
    );
}
