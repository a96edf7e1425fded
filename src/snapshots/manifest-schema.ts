/**
 * @module snapshots/manifest-schema
 * zod schemas for the runner API's bodies: the manifest (src/shared/snapshot-format.ts)
 * as the Worker accepts it. Strict objects, so what is hashed and stored holds no
 * fields the format does not define; paths are checked so a manifest can never
 * name anything outside the workspace.
 */
import { z } from "zod";
import { SHA256_HEX } from "../shared/snapshot-format";

const Sha256Schema = z.string().regex(SHA256_HEX, "must be 64 lowercase hex digits (SHA-256)");

/** Relative POSIX path inside the workspace: no leading "/", no empty, "." or ".." segments, no NUL. */
const EntryPathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) => !p.includes("\0") && p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== ".."),
    "must be a relative path inside the workspace (no '/' prefix, no empty, '.' or '..' segments, no NUL)",
  );

const ModeSchema = z.number().int().min(0).max(0o7777);
const CountSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const BlobLocationSchema = z.strictObject({
  pack: Sha256Schema,
  offset: CountSchema,
  length: CountSchema,
});

const FileEntrySchema = z
  .strictObject({
    type: z.literal("file"),
    path: EntryPathSchema,
    mode: ModeSchema,
    size: CountSchema,
    mtimeMs: z.number().finite(),
    blob: Sha256Schema,
    loc: BlobLocationSchema.optional(),
  })
  .refine((f) => (f.size === 0 ? true : f.loc !== undefined && f.loc.length === f.size), {
    message: "a non-empty file needs `loc` with length equal to its size",
  });

const EntrySchema = z.union([
  FileEntrySchema,
  z.strictObject({ type: z.literal("dir"), path: EntryPathSchema, mode: ModeSchema }),
  z.strictObject({ type: z.literal("symlink"), path: EntryPathSchema, target: z.string().min(1).max(4096) }),
]);

export const ManifestSchema = z
  .strictObject({
    version: z.literal(1),
    projectId: z.string().min(1),
    parent: Sha256Schema.nullable(),
    createdAt: z.iso.datetime({ offset: true }),
    entries: z.array(EntrySchema),
    summary: z.strictObject({
      files: CountSchema,
      dirs: CountSchema,
      symlinks: CountSchema,
      bytes: CountSchema,
    }),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    for (const [i, entry] of m.entries.entries()) {
      if (seen.has(entry.path)) {
        ctx.addIssue({ code: "custom", path: ["entries", i, "path"], message: `duplicate path ${entry.path}` });
      }
      seen.add(entry.path);
    }
  });

export const CommitRequestSchema = z.strictObject({ manifest: ManifestSchema });

/** Route params of the runner API. */
export const PackParamSchema = z.object({ packId: Sha256Schema });
export const SnapshotParamSchema = z.object({ id: Sha256Schema });
