/**
 * @module config
 * The Worker's settings, parsed once from `env` with zod so a bad value fails
 * loudly at the first request instead of misbehaving later. Only index.ts reads env.
 */
import { z } from "zod";
import { DEFAULT_CLONE_SCHEMES } from "./shared/git";

const intFrom = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? fallback : Number(v)))
    .pipe(z.number().int().min(min).max(max));

const listFrom = (fallback: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((v) =>
      v === undefined || v.trim() === ""
        ? [...fallback]
        : v
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean),
    );

/** A setting where empty means unset. */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));

/** An http(s) base URL without trailing slashes; empty means unset. */
const optionalBaseUrl = optionalText.pipe(
  z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, "must be an http(s) URL")
    .transform((v) => v.replace(/\/+$/, ""))
    .optional(),
);

const ConfigSchema = z.object({
  API_TOKEN: z.string().optional(),
  WORKSPACE_ROOT: z
    .string()
    .optional()
    .transform((v) => (v?.trim() ? v.trim().replace(/\/+$/, "") : "/workspace"))
    .pipe(z.string().regex(/^\/[A-Za-z0-9._/-]+$/, "WORKSPACE_ROOT must be an absolute path")),
  CORS_ORIGINS: listFrom([]),
  // 60 s default: long enough for installs of small projects, short enough that a hung
  // command does not hold a request for minutes by accident.
  EXEC_DEFAULT_TIMEOUT_MS: intFrom(60_000, 100, 3_600_000),
  // 10 min ceiling: Workers requests through a service binding or the edge should not
  // wait longer; longer work belongs in background processes (POST /processes).
  EXEC_MAX_TIMEOUT_MS: intFrom(600_000, 100, 3_600_000),
  // 32 MiB: Workers buffer request bodies in memory (128 MB isolate limit).
  MAX_FILE_BYTES: intFrom(32 * 1024 * 1024, 1, 100 * 1024 * 1024),
  // 256 MiB: archives stream through the Worker in 8 MiB parts both ways, so this bounds
  // the container's scratch space and the transfer's time, not the Worker's memory.
  MAX_ARCHIVE_BYTES: intFrom(256 * 1024 * 1024, 1, 2 * 1024 * 1024 * 1024),
  CLONE_ALLOWED_SCHEMES: listFrom(DEFAULT_CLONE_SCHEMES),
  SANDBOXD_URL: z.string().optional(),
  SANDBOXD_TOKEN: z.string().optional(),
  // Snapshots kept per project (plus the head); older ones and packs nothing kept needs are collected.
  SNAPSHOT_KEEP: intFrom(20, 1, 10_000),
  // Continuous sync: creating a sandbox also starts `runner sync --watch` in it, so work
  // reaches R2 within SYNC_INTERVAL_MS (or SYNC_BATCH_FILES changes; config and lock files
  // at once) even if nobody asks for a snapshot before the container goes away.
  SYNC_ON_CREATE: z
    .enum(["true", "false"])
    .optional()
    .transform((v) => v !== "false"),
  // Seed 000's batching: every 30 s or 10 changed files.
  SYNC_INTERVAL_MS: intFrom(30_000, 100, 3_600_000),
  SYNC_BATCH_FILES: intFrom(10, 1, 100_000),
  // This Worker's own address as a local jail host (sandboxd) reaches it: jails' requests for the
  // runner and model APIs go there (src/shared/egress.ts; npm run dev sets it). Unused on Cloudflare.
  RUNNER_API_URL: z
    .string()
    .optional()
    .transform((v) => (v?.trim() ? v.trim().replace(/\/+$/, "") : undefined)),
  // The domain preview URLs live under (`<port>-<projectId>-<token>.<PREVIEW_HOSTNAME>`, src/preview.ts):
  // a custom domain with a wildcard DNS record and route. Unset: the API request's own host.
  PREVIEW_HOSTNAME: z
    .string()
    .optional()
    .transform((v) => (v?.trim() ? v.trim().toLowerCase() : undefined))
    .pipe(
      z
        .string()
        .regex(
          /^(?=.{1,253}(:|$))[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?$/,
          "PREVIEW_HOSTNAME must be a host name (example.com, or localhost:8787), no scheme or path",
        )
        .optional(),
    ),
  // HMAC key for runner tokens; derived from API_TOKEN when unset (src/snapshots/tokens.ts).
  RUNNER_TOKEN_SECRET: z.string().optional(),
  // Jobs the cron keeps running at once (src/jobs/cron.ts); /run-next and /run-job are not limited by it.
  MAX_CONCURRENT_JOBS: intFrom(4, 1, 1000),
  // Model providers of the coding agents (src/models/egress.ts). Keys are secrets: on Cloudflare
  // they never enter a container or a jail (the Worker adds them on egress). Base URLs (an AI
  // Gateway, a proxy) default to the providers' public APIs.
  ANTHROPIC_API_KEY: optionalText,
  OPENAI_API_KEY: optionalText,
  ANTHROPIC_BASE_URL: optionalBaseUrl,
  OPENAI_BASE_URL: optionalBaseUrl,
  // The git host jobs push to and open pull requests on (src/git-host/). Secrets: a token
  // (GITHUB_TOKEN) or a GitHub App (GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY, PEM) whose
  // installation tokens are minted per job for its one repository. GITHUB_URL is where
  // repositories live (clone/push URLs; credentials go to no other host), GITHUB_API_URL
  // its REST API; both default to github.com's and are set for GitHub Enterprise.
  GITHUB_TOKEN: optionalText,
  GITHUB_APP_ID: optionalText.pipe(
    z
      .string()
      .regex(/^[0-9]{1,20}$/, "a GitHub App id (a number)")
      .optional(),
  ),
  GITHUB_APP_PRIVATE_KEY: optionalText,
  GITHUB_URL: optionalBaseUrl,
  GITHUB_API_URL: optionalBaseUrl,
  // Per-job limits of model-backed agents, passed to the runner as is; unset = the runner's defaults
  // (container/runner/agents/claude/settings.ts).
  AGENT_MAX_TURNS: optionalText.pipe(
    z
      .string()
      .regex(/^[1-9][0-9]{0,5}$/, "a whole number of turns")
      .optional(),
  ),
  AGENT_MAX_TOKENS: optionalText.pipe(
    z
      .string()
      .regex(/^[1-9][0-9]{0,11}$/, "a whole number of tokens")
      .optional(),
  ),
  AGENT_MAX_COST_USD: optionalText.pipe(
    z
      .string()
      .regex(/^[0-9]+(\.[0-9]+)?$/, "a cost in USD")
      .optional(),
  ),
});

/** Parsed settings. */
export type Config = z.output<typeof ConfigSchema>;

/** Parse the environment into settings; throws with every bad field named. */
export function loadConfig(env: Record<string, unknown>): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${fields}`);
  }
  const config = parsed.data;
  if (config.EXEC_DEFAULT_TIMEOUT_MS > config.EXEC_MAX_TIMEOUT_MS) {
    throw new Error("Invalid configuration: EXEC_DEFAULT_TIMEOUT_MS exceeds EXEC_MAX_TIMEOUT_MS");
  }
  return config;
}
