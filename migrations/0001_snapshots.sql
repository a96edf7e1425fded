-- Snapshot heads and records (see src/snapshots/). Apply with `wrangler d1 migrations apply sandbox-worker`.

-- A project's current snapshot: the only mutable reference, moved by compare-and-swap (src/snapshots/heads.ts).
CREATE TABLE IF NOT EXISTS heads (
  project_id TEXT PRIMARY KEY,
  snapshot_id TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- One row per committed snapshot; the manifest itself lives in R2. `packs` is the JSON array of
-- pack ids the manifest references, so pack GC needs no manifest reads.
CREATE TABLE IF NOT EXISTS snapshots (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  parent_id TEXT,
  created_at TEXT NOT NULL,
  files INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  uploaded_bytes INTEGER NOT NULL,
  packs TEXT NOT NULL DEFAULT '[]'
);

CREATE INDEX IF NOT EXISTS snapshots_project_created ON snapshots (project_id, created_at);
