/**
 * @module routes/sandboxes
 * Sandbox lifecycle: create-or-get, status, cleanup (kill processes) and destroy.
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { DeleteSandboxQuerySchema, ProjectParamSchema } from "../schemas";
import { onInvalid } from "../validation";

export function sandboxRoutes({ backend }: AppDeps): Hono {
  return new Hono()
    .post("/:projectId", zValidator("param", ProjectParamSchema, onInvalid), async (c) => {
      const { projectId } = c.req.valid("param");
      const info = await backend.ensure(projectId);
      return c.json({ success: true, data: { ...info, message: "Sandbox ready" } });
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
        if (c.req.valid("query").destroy) {
          await backend.destroy(projectId);
          return c.json({ success: true, data: { projectId, status: "destroyed", message: "Sandbox destroyed" } });
        }
        const killed = await backend.killAllProcesses(projectId);
        return c.json({
          success: true,
          data: { projectId, status: "cleaned", killed, message: "All processes terminated" },
        });
      },
    );
}
