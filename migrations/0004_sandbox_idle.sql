-- Idle TTL (src/sandboxes/idle.ts): a sandbox unused for idle_ttl_seconds is snapshotted and
-- stopped by the cron round; idle_stopped_at says when, and the next use clears it.
-- NULL idle_ttl_seconds: no idle TTL (the container still sleeps after its sleepAfter).
ALTER TABLE sandboxes ADD COLUMN idle_ttl_seconds INTEGER;
ALTER TABLE sandboxes ADD COLUMN idle_stopped_at TEXT;
CREATE INDEX IF NOT EXISTS sandboxes_idle ON sandboxes (last_used_at)
  WHERE idle_ttl_seconds IS NOT NULL AND idle_stopped_at IS NULL AND state = 'active';
