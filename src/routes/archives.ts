/**
 * @module routes/archives
 * Bulk transfer: PUT /:projectId/archive/<dir> extracts a tar or tar.gz body into a
 * directory of the workspace (all or nothing), GET /:projectId/archive/<dir> streams a
 * directory back as tar (`?format=tar.gz` compressed). No path: the workspace root.
 * Same confinement, size limit style and error codes as single files
 * (backend/cloudflare-archives.ts does the work in the container).
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { UnsupportedMediaTypeError, ValidationError } from "../errors";
import { limitBody, mediaType } from "../http/body";
import { ok } from "../http/envelope";
import { ensureReady } from "../sandboxes/ready";
import { ArchiveQuerySchema, ProjectParamSchema } from "../schemas";
import { validate } from "../validation";
import { pathAfter } from "./files";

/** Content types an upload may declare; tar recognises gzip by its bytes, whatever is said. */
const ARCHIVE_TYPES = ["application/x-tar", "application/gzip", "application/x-gzip", "application/octet-stream"];

export function archiveRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  const maxBytes = config.MAX_ARCHIVE_BYTES;
  // A declared Content-Length over the limit is refused before anything is read.
  const uploadLimit = limitBody(maxBytes, "Archive");
  const dirOf = (c: Parameters<typeof pathAfter>[0]) => pathAfter(c, "/archive/", root, true);

  const app = new Hono();
  for (const route of ["/:projectId/archive", "/:projectId/archive/*"]) {
    app.put(route, uploadLimit, validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const dir = dirOf(c);
      const type = mediaType(c.req.raw);
      if (!ARCHIVE_TYPES.includes(type)) {
        throw new UnsupportedMediaTypeError(`Send the archive as ${ARCHIVE_TYPES.join(", ")} (tar or tar.gz bytes)`);
      }
      const body = c.req.raw.body;
      if (!body) throw new ValidationError("The archive is empty", undefined, "INVALID_ARCHIVE");
      await ensureReady(deps, projectId);
      const { entries, bytes } = await backend.extractArchive(projectId, dir, body, maxBytes);
      return ok(c, { path: dir, entries, bytes });
    });
    app.get(route, validate("param", ProjectParamSchema), validate("query", ArchiveQuerySchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const dir = dirOf(c);
      const gzip = c.req.valid("query").format === "tar.gz";
      await ensureReady(deps, projectId);
      const archive = await backend.packArchive(projectId, dir, { gzip, maxBytes });
      const base = dir === root ? projectId : (dir.split("/").pop() ?? projectId).replace(/[^A-Za-z0-9._-]/g, "_");
      const name = `${base}.tar${gzip ? ".gz" : ""}`;
      return c.body(archive.body, 200, {
        "Content-Type": gzip ? "application/gzip" : "application/x-tar",
        "Content-Length": String(archive.size),
        "Content-Disposition": `attachment; filename="${name}"`,
      });
    });
  }
  return app;
}
