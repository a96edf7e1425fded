/**
 * @module test/support/d1-template
 * Local D1 state with the migrations applied, for end-to-end stacks. Applying them
 * runs wrangler's CLI (~4 s and ~5 CPU-seconds on a 2-core machine); a test run
 * starts about ten stacks. So the migrated state is made once per set of migrations
 * and wrangler version — in a directory of the system temp dir named by their hash, created atomically —
 * and every stack gets a copy of it (`wrangler dev --persist-to` then opens the same
 * SQLite file a fresh `d1 migrations apply` would have made).
 */
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyLocalD1Migrations, REPO_ROOT } from "../../scripts/lib/services.ts";

/** A name for the current migrations and wrangler version: a hash of their file names and contents. */
function migrationsHash(): string {
  const dir = join(REPO_ROOT, "migrations");
  const hash = createHash("sha256");
  // The local state's layout is wrangler's (miniflare's): another version gets its own template.
  hash.update(readFileSync(join(REPO_ROOT, "node_modules", "wrangler", "package.json")));
  for (const name of readdirSync(dir).sort())
    hash
      .update(name)
      .update("\0")
      .update(readFileSync(join(dir, name)));
  return hash.digest("hex").slice(0, 16);
}

/**
 * The migrated template's directory, made if missing. The node project's global
 * setup makes it before any test file starts (test/support/node-global-setup.ts),
 * so files do not build it side by side while their stacks start.
 */
export async function ensureD1Template(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const template = join(tmpdir(), `sandbox-worker-d1-${migrationsHash()}`);
  if (!existsSync(template)) {
    // Built aside and renamed into place: concurrent test files never copy half a template.
    const building = mkdtempSync(`${template}.building-`);
    try {
      await applyLocalD1Migrations({ persistTo: building, env });
      try {
        renameSync(building, template);
      } catch (err) {
        // Another test file won the race: its template is as good as ours.
        if (!existsSync(template)) throw err;
      }
    } finally {
      rmSync(building, { recursive: true, force: true });
    }
  }
  return template;
}

/** Makes `persistTo` a local state directory whose D1 database has every migration applied. */
export async function seedMigratedD1(persistTo: string, env: NodeJS.ProcessEnv): Promise<void> {
  cpSync(await ensureD1Template(env), persistTo, { recursive: true });
}
