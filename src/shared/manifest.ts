/**
 * @module shared/manifest
 * The manifest (one snapshot; vocabulary in snapshot-format.ts) defined once, as a zod
 * schema; its TypeScript types are inferred from it. The Worker checks a commit with it
 * (src/snapshots/commit.ts) and the runner checks every manifest it restores with it
 * (container/runner/store.ts), so the two cannot disagree on what a manifest may hold.
 * `zod/mini`, because the runner bundles it: its tree-shakable API keeps the cost to
 * what this schema uses (the runner bundle went from 526 to 552 KB minified with it).
 *
 * Strict objects, so what is hashed and stored holds no fields the format does not
 * define; entry paths follow the one workspace path rule (`isWorkspaceEntryPath`), so
 * a manifest can never name anything outside the workspace.
 */
import * as z from "zod/mini";
import { SHA256_HEX } from "./snapshot-format.ts";

/** Linux PATH_MAX; a longer path cannot be opened anyway. */
export const MAX_ENTRY_PATH_LENGTH = 4096;

/**
 * The workspace path rule for manifest entries: relative POSIX paths inside the
 * workspace, no leading "/", no empty, "." or ".." segments, no NUL. Any other byte a
 * file name can hold (spaces, unicode, newlines) is allowed.
 */
export function isWorkspaceEntryPath(path: string): boolean {
  if (path.length === 0 || path.length > MAX_ENTRY_PATH_LENGTH || path.includes("\0")) return false;
  return path.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

const Sha256Schema = z.string().check(z.regex(SHA256_HEX, "must be 64 lowercase hex digits (SHA-256)"));

const EntryPathSchema = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(MAX_ENTRY_PATH_LENGTH),
    z.refine(
      isWorkspaceEntryPath,
      "must be a relative path inside the workspace (no '/' prefix, no empty, '.' or '..' segments, no NUL)",
    ),
  );

/** Permission bits (e.g. 0o755 = 493), without the file-type bits. */
const ModeSchema = z.number().check(z.int(), z.minimum(0), z.maximum(0o7777));
const CountSchema = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));

/** Where a blob's bytes are: `length` bytes at `offset` in pack `pack`. */
export const BlobLocationSchema = z.strictObject({
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
    mtimeMs: z.number(),
    blob: Sha256Schema,
    /** Absent for empty files (size 0: nothing stored). */
    loc: z.optional(BlobLocationSchema),
  })
  .check(
    z.refine((f) => (f.size === 0 ? true : f.loc !== undefined && f.loc.length === f.size), {
      message: "a non-empty file needs `loc` with length equal to its size",
    }),
  );

/**
 * One entry: a file (its blob and where it is), a directory (so empty ones survive) or
 * a symlink (its target, never followed). `path` is relative to the workspace root.
 */
const EntrySchema = z.union([
  FileEntrySchema,
  z.strictObject({ type: z.literal("dir"), path: EntryPathSchema, mode: ModeSchema }),
  z.strictObject({
    type: z.literal("symlink"),
    path: EntryPathSchema,
    target: z.string().check(z.minLength(1), z.maxLength(MAX_ENTRY_PATH_LENGTH)),
  }),
]);

const SummarySchema = z.strictObject({
  files: CountSchema,
  dirs: CountSchema,
  symlinks: CountSchema,
  /** Sum of file sizes. */
  bytes: CountSchema,
});

/** A snapshot. Entries are sorted by `path` (code-unit order), parents before children; no path twice. */
export const ManifestSchema = z
  .strictObject({
    version: z.literal(1),
    projectId: z.string().check(z.minLength(1)),
    /** The head this snapshot was taken on top of (null for a project's first). */
    parent: z.nullable(Sha256Schema),
    /** ISO 8601. */
    createdAt: z.iso.datetime({ offset: true }),
    entries: z.array(EntrySchema),
    summary: SummarySchema,
  })
  .check(
    z.superRefine((m, ctx) => {
      const seen = new Set<string>();
      for (const [i, entry] of m.entries.entries()) {
        if (seen.has(entry.path)) {
          ctx.addIssue({ code: "custom", path: ["entries", i, "path"], message: `duplicate path ${entry.path}` });
        }
        seen.add(entry.path);
      }
    }),
  );

/** The body of the runner API's POST /snapshots. */
export const CommitRequestSchema = z.strictObject({ manifest: ManifestSchema });

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestEntry = Manifest["entries"][number];
export type ManifestSummary = Manifest["summary"];
export type BlobLocation = z.infer<typeof BlobLocationSchema>;
export type CommitRequest = z.infer<typeof CommitRequestSchema>;
