/**
 * @module schemas
 * zod schemas for every request the API accepts. Validation happens at the edge
 * (routes use `validate()` from validation.ts); handlers only see parsed data.
 */
import { z } from "zod";
import { SHA256_HEX } from "./shared/snapshot-format";
import { TERMINAL_LIMITS } from "./terminal/protocol";

/** Names Cloudflare refuses as sandbox ids (they collide with preview-URL host names). */
export const RESERVED_PROJECT_IDS = ["www", "api", "admin", "root", "system", "cloudflare", "workers"] as const;

/**
 * A project id is a Cloudflare sandbox id that is also a DNS label: 1–63 lowercase
 * letters, digits and '-', not starting or ending with '-', not reserved.
 */
export const ProjectIdSchema = z
  .string()
  .regex(
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    "projectId must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'",
  )
  .refine((id) => !(RESERVED_PROJECT_IDS as readonly string[]).includes(id), "projectId is a reserved name");

export const ProjectParamSchema = z.object({ projectId: ProjectIdSchema });

/** Environment variables for a command: POSIX names, bounded values. */
const EnvSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "env names must be valid shell variable names"),
    z.string().max(32_768),
  )
  .refine((env) => Object.keys(env).length <= 100, "at most 100 env variables");

/** A shell command line; 64 KiB is far above any real command and below ARG_MAX. */
const CommandSchema = z.string().min(1, "command must not be empty").max(65_536);

export const ExecBodySchema = z.strictObject({
  command: CommandSchema,
  cwd: z.string().optional(),
  env: EnvSchema.optional(),
  timeoutMs: z.number().int().positive().optional(),
  stream: z.boolean().optional(),
});

export const CloneBodySchema = z.strictObject({
  repoUrl: z.string().min(1).max(2048),
  directory: z.string().optional(),
  branch: z.string().min(1).max(255).optional(),
  depth: z.number().int().min(1).max(1_000_000).optional(),
  timeoutMs: z.number().int().positive().optional(),
});

/** JSON form of a file write; raw bytes use `application/octet-stream` instead. */
export const WriteFileBodySchema = z.strictObject({
  content: z.string(),
  encoding: z.enum(["utf8", "utf-8", "base64"]).default("utf8"),
});

export const ReadFileQuerySchema = z.object({
  encoding: z.enum(["utf8", "utf-8", "base64"]).optional(),
});

/**
 * Names a sandbox's own environment may not set: the runner's configuration (SANDBOX_*) and
 * the hooks that would run code inside the Worker's own processes in the sandbox (the
 * runner, the sync watcher) before they start.
 */
const RESERVED_ENV = /^(SANDBOX_|LD_|NODE_OPTIONS$|BASH_ENV$|ENV$)/;

/** Seconds per unit of a duration such as "90s", "10m", "2h" or "1d". */
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * An idle TTL, in seconds: a duration string or a number of seconds, from a minute (the
 * cron round that applies it runs once a minute) to 30 days.
 */
export const IdleTtlSchema = z
  .union([
    z.number().int(),
    z
      .string()
      .regex(/^[1-9][0-9]{0,6}[smhd]$/, 'idleTtl is a duration such as "30m", "2h" or "1d", or a number of seconds')
      .transform((v) => Number(v.slice(0, -1)) * UNIT_SECONDS[v.slice(-1) as keyof typeof UNIT_SECONDS]),
  ])
  .refine((s) => s >= 60 && s <= 30 * 86_400, "idleTtl must be between 60 seconds and 30 days");

/** POST /sandboxes/:id (all optional; absent fields leave the sandbox's settings as they are). */
export const CreateSandboxBodySchema = z.strictObject({
  env: EnvSchema.refine(
    (env) => !Object.keys(env).some((k) => RESERVED_ENV.test(k)),
    "env may not set SANDBOX_*, LD_*, NODE_OPTIONS, BASH_ENV or ENV (the sandbox's own processes depend on them)",
  ).optional(),
  sleepAfter: z
    .union([
      z.number().int().min(10).max(604_800),
      z.string().regex(/^[1-9][0-9]{0,5}[smh]$/, 'sleepAfter is a duration such as "90s", "10m" or "2h"'),
    ])
    .optional(),
  keepAlive: z.boolean().optional(),
  idleTtl: IdleTtlSchema.nullable().optional(),
});

/** GET /sandboxes: one page, by project id. */
export const ListSandboxesQuerySchema = z.object({
  state: z.enum(["active", "destroyed"]).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(128).optional(),
});

/** GET …/archive: plain tar (default) or gzip-compressed. */
export const ArchiveQuerySchema = z.object({
  format: z.enum(["tar", "tar.gz"]).optional(),
});

/** A boolean query flag: "true"/"1" or "false"/"0"; anything else is a 400, absent is false. */
const QueryFlag = z
  .enum(["true", "false", "1", "0"])
  .optional()
  .transform((v) => v === "true" || v === "1");

export const ListQuerySchema = z.object({
  path: z.string().optional(),
  recursive: QueryFlag,
});

export const StartProcessBodySchema = z.strictObject({
  command: CommandSchema,
  cwd: z.string().optional(),
  env: EnvSchema.optional(),
});

/** The port Cloudflare's container runtime listens on in every sandbox: never a preview's. */
export const RUNTIME_PORT = 3000;

/** A server's port in the sandbox that a preview URL may expose (the SDK's rule). */
export const PortSchema = z
  .number()
  .int("port must be a whole number")
  .min(1024, "port must be 1024-65535")
  .max(65535, "port must be 1024-65535")
  .refine((p) => p !== RUNTIME_PORT, `port ${RUNTIME_PORT} is the sandbox's control port`);

/** POST /sandboxes/:projectId/ports. */
export const ExposePortBodySchema = z.strictObject({
  port: PortSchema,
  /** A label for people (listings); not part of the URL. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9 ._-]{1,64}$/, "name must be 1-64 letters, digits, spaces, '.', '_' or '-'")
    .optional(),
});

export const PortParamSchema = ProjectParamSchema.extend({
  port: z
    .string()
    .regex(/^[0-9]{1,5}$/, "port must be a number")
    .transform(Number)
    .pipe(PortSchema),
});

export const ProcessParamSchema = ProjectParamSchema.extend({
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "process id is malformed"),
});

/** GET …/processes/:id/logs: SSE that follows the output (default), or `json` for what is buffered now. */
export const ProcessLogsQuerySchema = z.object({
  format: z.enum(["json", "sse"]).optional(),
});

/** POST /:projectId/restore: the head (no body, or no snapshotId) or the snapshot named. */
export const RestoreBodySchema = z.strictObject({
  snapshotId: z.string().regex(SHA256_HEX, "snapshotId must be 64 lowercase hex characters").optional(),
});

/** The runner API's ids of packs and snapshots: SHA-256 hex. */
const Sha256Schema = z.string().regex(SHA256_HEX, "must be 64 lowercase hex digits (SHA-256)");
export const PackParamSchema = ProjectParamSchema.extend({ packId: Sha256Schema });
export const SnapshotParamSchema = ProjectParamSchema.extend({ id: Sha256Schema });

export const DeleteSandboxQuerySchema = z.object({
  destroy: QueryFlag,
  /** With destroy: snapshot the workspace first (default true; `snapshot=false` skips it). */
  snapshot: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => v !== "false" && v !== "0"),
});

/** A terminal size from the query string: a decimal integer within 1..max. */
function terminalSize(name: string, max: number, fallback: number) {
  return z
    .string()
    .regex(/^[0-9]{1,4}$/, `${name} must be an integer from 1 to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `${name} must be at least 1`).max(max, `${name} must be at most ${max}`))
    .default(fallback);
}

/** GET …/terminal: the PTY's size and the directory its shell (bash) starts in. */
export const TerminalQuerySchema = z.object({
  cols: terminalSize("cols", TERMINAL_LIMITS.maxCols, 80),
  rows: terminalSize("rows", TERMINAL_LIMITS.maxRows, 24),
  cwd: z.string().optional(),
});
