/**
 * @module test/worker/env
 * Bindings only the `workers` test project sets (vitest.config.ts miniflare.bindings).
 */
declare namespace Cloudflare {
  interface Env {
    /** Base URL of the stand-in container server (test/support/standin-container.ts). */
    STANDIN_CONTAINER_URL: string;
  }
}
