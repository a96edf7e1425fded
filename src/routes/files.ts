/**
 * @module routes/files
 * Files and listings: GET | PUT | DELETE /:projectId/files/<path> and
 * GET /:projectId/ls. Text travels as JSON; binary as base64 in JSON or as raw
 * `application/octet-stream` bytes, both ways.
 */
import { type Context, Hono } from "hono";
import type { AppDeps } from "../deps";
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from "../errors";
import { limitBody, mediaType } from "../http/body";
import { base64ToBytes, bytesToBase64, readAll } from "../http/bytes";
import { ok } from "../http/envelope";
import { confinePath, pathFromUrlTail } from "../paths";
import { ensureReady } from "../sandboxes/ready";
import { ListQuerySchema, ProjectParamSchema, ReadFileQuerySchema, WriteFileBodySchema } from "../schemas";
import { parseOrThrow, readJson, validate } from "../validation";

/**
 * The sandbox path after `marker` (e.g. "/files/") in the request URL, still encoded in
 * c.req.path; confined to `root`. An empty tail is `root` itself, or 400 without `orRoot`.
 */
export function pathAfter(c: Context, marker: string, root: string, orRoot = false): string {
  const raw = c.req.path;
  const at = raw.indexOf(marker);
  const tail = at >= 0 ? raw.slice(at + marker.length) : "";
  if (tail === "") {
    if (orRoot) return root;
    throw new ValidationError(`No file path after ${marker}`, undefined, "INVALID_PATH");
  }
  return pathFromUrlTail(tail, root);
}

const filePath = (c: Context, root: string) => pathAfter(c, "/files/", root);

export function fileRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  const maxBytes = config.MAX_FILE_BYTES;
  // JSON uploads carry base64 (4/3 larger) plus a little framing.
  const uploadLimit = limitBody(Math.ceil((maxBytes * 4) / 3) + 64 * 1024, "File", maxBytes);

  return new Hono()
    .get(
      "/:projectId/files/*",
      validate("param", ProjectParamSchema),
      validate("query", ReadFileQuerySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const path = filePath(c, root);
        await ensureReady(deps, projectId);
        const file = await backend.readFile(projectId, path, maxBytes);
        if ((c.req.header("accept") ?? "").includes("application/octet-stream")) {
          return c.body(file.body, 200, {
            "Content-Type": "application/octet-stream",
            "Content-Length": String(file.size),
          });
        }
        const bytes = await readAll(file.body, maxBytes);
        let encoding = c.req.valid("query").encoding === "base64" ? "base64" : "utf8";
        let content: string;
        if (encoding === "utf8") {
          try {
            content = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
          } catch {
            // Not UTF-8: answer base64 and say so rather than hand back mangled bytes.
            encoding = "base64";
            content = bytesToBase64(bytes);
          }
        } else {
          content = bytesToBase64(bytes);
        }
        return ok(c, { path, content, encoding, size: bytes.byteLength });
      },
    )
    .put("/:projectId/files/*", uploadLimit, validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const path = filePath(c, root);
      if (path === root) throw new ValidationError("Cannot write the workspace root itself", undefined, "INVALID_PATH");
      const type = mediaType(c.req.raw);
      let bytes: Uint8Array;
      if (type === "application/json") {
        const { content, encoding } = parseOrThrow(WriteFileBodySchema, await readJson(c.req), "json");
        bytes = encoding === "base64" ? base64ToBytes(content) : new TextEncoder().encode(content);
      } else if (type === "application/octet-stream" || type.startsWith("text/")) {
        bytes = new Uint8Array(await c.req.arrayBuffer());
      } else {
        throw new UnsupportedMediaTypeError(
          "Send application/json ({content, encoding?}) or application/octet-stream (raw bytes)",
        );
      }
      if (bytes.byteLength > maxBytes) throw new PayloadTooLargeError("File", maxBytes);
      await ensureReady(deps, projectId);
      const { size } = await backend.writeFile(projectId, path, bytes);
      return ok(c, { path, size, message: "File written successfully" });
    })
    .delete("/:projectId/files/*", validate("param", ProjectParamSchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const path = filePath(c, root);
      if (path === root) throw new ValidationError("Refusing to delete the workspace root", undefined, "INVALID_PATH");
      await ensureReady(deps, projectId);
      await backend.deletePath(projectId, path);
      return ok(c, { path, deleted: true });
    })
    .get("/:projectId/ls", validate("param", ProjectParamSchema), validate("query", ListQuerySchema), async (c) => {
      const { projectId } = c.req.valid("param");
      const query = c.req.valid("query");
      const path = confinePath(query.path ?? root, root);
      const recursive = query.recursive;
      await ensureReady(deps, projectId);
      const entries = await backend.list(projectId, path, { recursive });
      return ok(c, { path, recursive, count: entries.length, entries });
    });
}
