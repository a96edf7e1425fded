/**
 * @module test/worker/setup/apply-migrations
 * Applies the D1 migrations (migrations/, read in vitest.config.ts) to the test
 * database before each test file; already-applied ones are skipped.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
