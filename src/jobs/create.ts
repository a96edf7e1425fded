/**
 * @module jobs/create
 * Creating a job, once per idempotency key: the same key with the same body answers
 * the job it made (`created: false`); with another body, 409 IDEMPOTENCY_CONFLICT.
 */
import { ConflictError } from "../errors";
import type { AgentName, Job, RepoPushSettings } from "../shared/job-format";
import { appendStatusEvent } from "./events";
import { iso, type JobRow, newJobId, rowToJob } from "./records";

/** What POST /jobs asks for, after validation and defaults. */
export interface NewJob {
  projectId: string;
  prompt: string;
  agent: AgentName;
  model: string | null;
  command: string | null;
  /** `push`: set when the job pushes its work (repo.pushBranch or repo.pullRequest given). */
  repo: { url: string; branch: string | null; push: RepoPushSettings | null } | null;
  timeoutSeconds: number;
  maxAttempts: number;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Insert a queued job (and its first status event), or answer the one `idempotencyKey` made. */
export async function createJob(
  db: D1Database,
  input: NewJob,
  idempotencyKey: string | undefined,
  now: number,
): Promise<{ job: Job; created: boolean }> {
  const requestHash = idempotencyKey === undefined ? null : await sha256Hex(JSON.stringify(input));
  const at = iso(now);
  const inserted = await db
    .prepare(
      `INSERT INTO jobs (id, project_id, status, agent, prompt, model, command, repo_url, repo_branch,
         repo_push, timeout_seconds, max_attempts, idempotency_key, request_hash, created_at, updated_at)
       VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?14, ?9, ?10, ?11, ?12, ?13, ?13)
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
    )
    .bind(
      newJobId(now),
      input.projectId,
      input.agent,
      input.prompt,
      input.model,
      input.command,
      input.repo?.url ?? null,
      input.repo?.branch ?? null,
      input.timeoutSeconds,
      input.maxAttempts,
      idempotencyKey ?? null,
      requestHash,
      at,
      input.repo?.push ? JSON.stringify(input.repo.push) : null,
    )
    .first<JobRow>();
  if (inserted) {
    await appendStatusEvent(db, inserted.id, { status: "queued" }, now);
    return { job: rowToJob(inserted), created: true };
  }
  // Only an idempotency key can conflict: answer with the job it made, if the body matches.
  const existing = await db
    .prepare("SELECT * FROM jobs WHERE idempotency_key = ?")
    .bind(idempotencyKey)
    .first<JobRow>();
  if (!existing) throw new ConflictError("The job could not be created; try again", "CONFLICT");
  if (existing.request_hash !== requestHash) {
    throw new ConflictError(
      "This Idempotency-Key was used for a different request; use a new key for a new job",
      "IDEMPOTENCY_CONFLICT",
    );
  }
  return { job: rowToJob(existing), created: false };
}
