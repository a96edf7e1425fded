/**
 * @module routes/ports
 * Preview URLs (src/preview.ts): POST /:projectId/ports exposes a server's port and
 * answers its URL, GET lists the exposed ports, DELETE /:projectId/ports/:port revokes
 * one. Exposing reaches the running sandbox, so it takes the ensure step; listing and
 * revoking read and change the Sandbox's records only and start nothing.
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import { checkPreviewUrl, previewHostname } from "../preview";
import { ensureReady } from "../sandboxes/ready";
import { ExposePortBodySchema, PortParamSchema, ProjectParamSchema } from "../schemas";
import { validate } from "../validation";

export function portRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  return new Hono()
    .post(
      "/:projectId/ports",
      jsonBody(),
      validate("param", ProjectParamSchema),
      validate("json", ExposePortBodySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const { port, name } = c.req.valid("json");
        const hostname = previewHostname(config, c.req.url);
        checkPreviewUrl(projectId, port, hostname);
        await ensureReady(deps, projectId);
        const exposed = await backend.exposePort(projectId, port, { hostname, ...(name ? { name } : {}) });
        return ok(c, exposed, 201);
      },
    )
    .get("/:projectId/ports", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const ports = await backend.listPorts(projectId, previewHostname(config, c.req.url));
      return ok(c, { ports });
    })
    .delete("/:projectId/ports/:port", validate("param", PortParamSchema), async (c) => {
      const { projectId, port } = c.req.valid("param");
      await backend.unexposePort(projectId, port);
      return ok(c, { port, exposed: false });
    });
}
