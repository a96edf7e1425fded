/**
 * @module routes/processes
 * Background processes: start, list, inspect, kill, and logs (SSE that follows
 * the output until the process exits, resuming after `Last-Event-ID`; `?format=json`
 * for what is buffered now).
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import { logOffsetIds, parseLogEventId } from "../log-resume";
import { confinePath } from "../paths";
import { isInternalProcess } from "../runner-driver/run";
import { ensureReady } from "../sandboxes/ready";
import { ProcessLogsQuerySchema, ProcessParamSchema, ProjectParamSchema, StartProcessBodySchema } from "../schemas";
import { respondWithEvents } from "../sse";
import { validate } from "../validation";

export function processRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  return new Hono()
    .post(
      "/:projectId/processes",
      jsonBody(),
      validate("param", ProjectParamSchema),
      validate("json", StartProcessBodySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const body = c.req.valid("json");
        const cwd = confinePath(body.cwd ?? root, root);
        await ensureReady(deps, projectId);
        const info = await backend.startProcess(projectId, {
          command: body.command,
          cwd,
          env: body.env,
        });
        return ok(c, info, 201);
      },
    )
    .get("/:projectId/processes", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      await ensureReady(deps, projectId);
      // The Worker's own processes (sync watcher, run-job) are not the user's to see.
      const processes = (await backend.listProcesses(projectId)).filter((p) => !isInternalProcess(p));
      return ok(c, { processes });
    })
    .get("/:projectId/processes/:id", validate("param", ProcessParamSchema), async (c) => {
      const { projectId, id } = c.req.valid("param");
      await ensureReady(deps, projectId);
      return ok(c, await backend.getProcess(projectId, id));
    })
    .delete("/:projectId/processes/:id", validate("param", ProcessParamSchema), async (c) => {
      const { projectId, id } = c.req.valid("param");
      await ensureReady(deps, projectId);
      return ok(c, await backend.killProcess(projectId, id));
    })
    .get(
      "/:projectId/processes/:id/logs",
      validate("param", ProcessParamSchema),
      validate("query", ProcessLogsQuerySchema),
      async (c) => {
        const { projectId, id } = c.req.valid("param");
        await ensureReady(deps, projectId);
        if (c.req.valid("query").format === "json") {
          return ok(c, { id, ...(await backend.processLogs(projectId, id)) });
        }
        // Parsed before the stream opens, so a bad id is a 400 rather than an error event.
        const after = parseLogEventId(c.req.header("last-event-id"));
        return respondWithEvents(c, (signal) => backend.followProcess(projectId, id, signal), logOffsetIds(after));
      },
    );
}
