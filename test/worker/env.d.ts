/// <reference types="@cloudflare/vitest-plugin/types" />
/**
 * @module test/worker/env
 * Bindings only the `workers` test project sets (vitest.config.ts miniflare.bindings).
 */
declare namespace Cloudflare {
  interface Env {
    /** D1 migrations read by vitest.config.ts (readD1Migrations), applied by setup/apply-migrations.ts. */
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
