/**
 * @module sandboxd/schemas
 * zod schemas of sandboxd's JSON request bodies. Paths stay plain strings here;
 * paths.ts checks and confines them.
 */
import { z } from "zod";

const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

const envSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "env names must be letters, digits and '_'"),
    z
      .string()
      .max(128 * 1024)
      .refine((v) => !v.includes("\0"), "env values must not contain NUL"),
  )
  .refine((env) => Object.keys(env).length <= 256, "at most 256 env variables");

const command = z
  .string()
  .min(1)
  .max(256 * 1024)
  .refine((v) => !v.includes("\0"), "command must not contain NUL");

/** POST /projects/:id/exec and /exec/stream. */
export const execBody = z.strictObject({
  command,
  cwd: z.string().optional(),
  env: envSchema.optional(),
  timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(60_000),
});

/** POST /projects/:id/processes. */
export const processBody = z.strictObject({
  command,
  cwd: z.string().optional(),
  env: envSchema.optional(),
});

/** POST /projects/:id/clone. */
export const cloneBody = z.strictObject({
  repoUrl: z.string().min(1).max(4096),
  directory: z.string().min(1),
  branch: z.string().min(1).max(255).optional(),
  depth: z.number().int().positive().max(1_000_000).optional(),
  timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).default(300_000),
});
