/**
 * @module routes/processes
 * Background processes: start, list, inspect, kill, and logs (SSE that follows
 * the output until the process exits; `?format=json` for what is buffered now).
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { confinePath } from "../paths";
import { ProcessParamSchema, ProjectParamSchema, StartProcessBodySchema } from "../schemas";
import { respondWithEvents } from "../sse";
import { onInvalid } from "../validation";
import { ensureReady } from "../sandboxes/ready";
import { jsonBodyLimit } from "./exec";
import { isInternalProcess } from "../snapshots/run-runner";

export function processRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  return new Hono()
    .post(
      "/:projectId/processes",
      jsonBodyLimit,
      zValidator("param", ProjectParamSchema, onInvalid),
      zValidator("json", StartProcessBodySchema, onInvalid),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const body = c.req.valid("json");
        const info = await backend.startProcess(projectId, {
          command: body.command,
        const cwd = confinePath(body.cwd ?? root, root);
        await ensureReady(deps, projectId);
          cwd,
          env: body.env,
        });
        return c.json({ success: true, data: info }, 201);
      },
    )
    .get("/:projectId/processes", zValidator("param", ProjectParamSchema, onInvalid), async (c) => {
      const { projectId } = c.req.valid("param");
      await ensureReady(deps, projectId);
      // The Worker's own processes (sync watcher, run-job) are not the user's to see.
      const processes = (await backend.listProcesses(projectId)).filter((p) => !isInternalProcess(p));
      return c.json({ success: true, data: { processes } });
    })
    .get("/:projectId/processes/:id", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      return c.json({ success: true, data: await backend.getProcess(projectId, id) });
    })
      await ensureReady(deps, projectId);
    .delete("/:projectId/processes/:id", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      return c.json({ success: true, data: await backend.killProcess(projectId, id) });
    })
      await ensureReady(deps, projectId);
    .get("/:projectId/processes/:id/logs", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      if (c.req.query("format") === "json") {
        return c.json({ success: true, data: { id, ...(await backend.processLogs(projectId, id)) } });
      await ensureReady(deps, projectId);
      }
      return respondWithEvents(c, (signal) => backend.followProcess(projectId, id, signal));
    });
}
