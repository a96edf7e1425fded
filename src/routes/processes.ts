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
import { jsonBodyLimit } from "./exec";

export function processRoutes({ backend, config }: AppDeps): Hono {
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
          cwd: confinePath(body.cwd ?? root, root),
          env: body.env,
        });
        return c.json({ success: true, data: info }, 201);
      },
    )
    .get("/:projectId/processes", zValidator("param", ProjectParamSchema, onInvalid), async (c) => {
      const { projectId } = c.req.valid("param");
      const processes = await backend.listProcesses(projectId);
      return c.json({ success: true, data: { processes } });
    })
    .get("/:projectId/processes/:id", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      return c.json({ success: true, data: await backend.getProcess(projectId, id) });
    })
    .delete("/:projectId/processes/:id", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      return c.json({ success: true, data: await backend.killProcess(projectId, id) });
    })
    .get("/:projectId/processes/:id/logs", zValidator("param", ProcessParamSchema, onInvalid), async (c) => {
      const { projectId, id } = c.req.valid("param");
      if (c.req.query("format") === "json") {
        return c.json({ success: true, data: { id, ...(await backend.processLogs(projectId, id)) } });
      }
      return respondWithEvents(c, (signal) => backend.followProcess(projectId, id, signal));
    });
}
