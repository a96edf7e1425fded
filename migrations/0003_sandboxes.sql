-- The sandboxes the API has seen, for GET /sandboxes (src/sandboxes/registry.ts). A row is
-- written when a request first reaches a project's sandbox (create, or any route through the
-- ensure step) and marked destroyed by DELETE …?destroy=true. The live container state is
-- GET /sandboxes/:id; heads and running jobs are joined from their own tables.
CREATE TABLE IF NOT EXISTS sandboxes (
  project_id TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('active', 'destroyed')),
  -- ISO 8601: when this sandbox was created (again, after a destroy).
  created_at TEXT NOT NULL,
  -- ISO 8601, to the minute: writes are throttled to one a minute per project and isolate.
  last_used_at TEXT NOT NULL,
  destroyed_at TEXT
);
