/**
 * @module routes/runner
 * The runner API v1 (contract in src/shared/snapshot-format.ts), mounted by app.ts
 * at /runner/v1/projects/:projectId. Authenticated by runner tokens scoped to the
 * project in the path, never by the API_TOKEN; a job token only while its job runs
 * its attempt under a live lease (routes/runner-auth.ts):
 *   GET  /head             GET/HEAD /packs/:packId   PUT /packs/:packId
 *   GET  /snapshots        GET /snapshots/:id        POST /snapshots
 */
import { Hono } from "hono";
import { NotFoundError, PayloadTooLargeError, ValidationError } from "../errors";
import { limitBody } from "../http/body";
import type { JobQueue } from "../jobs/queue";
import { PackParamSchema, ProjectParamSchema, SnapshotParamSchema } from "../schemas";
import { CommitRequestSchema } from "../shared/manifest";
import { MAX_PACK_BYTES, parseRange } from "../snapshots/packs";
import type { SnapshotService } from "../snapshots/service";
import { parseOrThrow, readJson, validate } from "../validation";
import { type RunnerAuthVars, requireRunnerToken } from "./runner-auth";

/** Manifests of large trees are big (~200 bytes per entry): 64 MiB is ~300k files. */
export const MAX_MANIFEST_BODY_BYTES = 64 * 1024 * 1024;

function packNotFound(packId: string): NotFoundError {
  return new NotFoundError(`Pack ${packId} is not stored`, "PACK_NOT_FOUND");
}

/**
 * The runner API routes, relative to /runner/v1/projects/:projectId. `jobs` decides
 * whether a job token's lease still lives (null: no queue, job tokens refused).
 */
export function runnerRoutes(snapshots: SnapshotService, jobs: JobQueue | null): Hono<RunnerAuthVars> {
  const projectParam = validate("param", ProjectParamSchema);
  const packParam = validate("param", PackParamSchema);
  const snapshotParam = validate("param", SnapshotParamSchema);

  return (
    new Hono<RunnerAuthVars>()
      .use("*", requireRunnerToken(snapshots.tokens, jobs, "project"))
      .get("/head", projectParam, async (c) => {
        const { projectId } = c.req.valid("param");
        return c.json({ snapshotId: await snapshots.getHead(projectId) });
      })
      .get("/snapshots", projectParam, async (c) => {
        const { projectId } = c.req.valid("param");
        return c.json({ snapshots: await snapshots.listSnapshots(projectId) });
      })
      .get("/snapshots/:id", snapshotParam, async (c) => {
        const { projectId, id } = c.req.valid("param");
        const text = await snapshots.getManifestText(projectId, id);
        if (text === null) throw new NotFoundError(`Snapshot ${id} not found`, "SNAPSHOT_NOT_FOUND");
        return c.body(text, 200, { "content-type": "application/json" });
      })
      .post("/snapshots", projectParam, limitBody(MAX_MANIFEST_BODY_BYTES, "Manifest"), async (c) => {
        const { projectId } = c.req.valid("param");
        // Validated here but committed from the raw value: its text is what gets hashed.
        const body = await readJson(c.req);
        parseOrThrow(CommitRequestSchema, body, "json");
        const result = await snapshots.commit(projectId, (body as { manifest: unknown }).manifest);
        return c.json(result, 201);
      })
      // Hono answers HEAD with the GET handler (the body dropped), so HEAD is handled here.
      .get("/packs/:packId", packParam, async (c) => {
        const { projectId, packId } = c.req.valid("param");
        if (c.req.method === "HEAD") {
          const size = await snapshots.packSize(projectId, packId);
          if (size === null) throw packNotFound(packId);
          return c.body(null, 200, { "content-length": String(size), "accept-ranges": "bytes" });
        }
        const range = parseRange(c.req.header("range"));
        const pack = await snapshots.readPack(projectId, packId, range);
        if (!pack) throw packNotFound(packId);
        const headers: Record<string, string> = {
          "content-type": "application/octet-stream",
          "accept-ranges": "bytes",
        };
        if (!pack.range) {
          headers["content-length"] = String(pack.size);
          return c.body(pack.body, 200, headers);
        }
        const { offset, length } = pack.range;
        headers["content-length"] = String(length);
        headers["content-range"] = `bytes ${offset}-${offset + length - 1}/${pack.size}`;
        return c.body(pack.body, 206, headers);
      })
      .put("/packs/:packId", packParam, async (c) => {
        const { projectId, packId } = c.req.valid("param");
        const lengthHeader = c.req.header("content-length");
        if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) {
          throw new ValidationError("PUT /packs needs a Content-Length header", undefined, "LENGTH_REQUIRED");
        }
        const length = Number(lengthHeader);
        if (length > MAX_PACK_BYTES) throw new PayloadTooLargeError("Pack", MAX_PACK_BYTES);
        const body = c.req.raw.body ?? new Response(new Uint8Array()).body;
        if (!body) throw new ValidationError("Missing pack body");
        const stored = await snapshots.putPack(projectId, packId, body, length);
        return c.json({ packId: stored.packId, size: stored.size }, 201);
      })
  );
}
