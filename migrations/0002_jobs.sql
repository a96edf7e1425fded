-- Agent jobs and their events (see src/jobs/). Apply with `wrangler d1 migrations apply sandbox-worker`.

-- One row per job. Lifecycle: queued → running → succeeded | failed | cancelled (src/shared/job-format.ts).
-- Every transition is a compare-and-set on status (and attempt) in src/jobs/queue.ts.
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  agent TEXT NOT NULL,
  prompt TEXT NOT NULL,
  model TEXT,
  command TEXT,
  repo_url TEXT,
  repo_branch TEXT,
  timeout_seconds INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  -- 0 until first leased; +1 on every lease.
  attempt INTEGER NOT NULL DEFAULT 0,
  -- Epoch ms: the lease runs out (heartbeats extend it) / the attempt's hard deadline (timeout + grace).
  lease_until INTEGER,
  deadline_at INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  -- Idempotency-Key of the creating request and the SHA-256 of its normalised body.
  idempotency_key TEXT UNIQUE,
  request_hash TEXT,
  -- JobResult JSON as the runner reported it.
  result TEXT,
  error_code TEXT,
  error_message TEXT,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  updated_at TEXT NOT NULL
);

-- At most one running job per project, enforced by the database: a racing lease fails on this index.
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_project ON jobs (project_id) WHERE status = 'running';
-- Leasing (oldest queued first), the lease sweep and GET /jobs?status=.
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at, id);
-- GET /jobs?projectId= (newest first, cursor by created_at, id).
CREATE INDEX IF NOT EXISTS jobs_project_created ON jobs (project_id, created_at, id);

-- Job events: `seq` counts from 1 per job, assigned by the Worker in order (src/jobs/events.ts).
CREATE TABLE IF NOT EXISTS job_events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
);
