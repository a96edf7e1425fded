/**
 * @module scripts/build-sandbox-runtime
 * `npm run build:runtime`: finds Cloudflare's sandbox runtime source (CF_SANDBOX_RUNTIME_DIR,
 * the cache, or GitHub) and builds the bundle Bun runs in local sandboxes, if it is out of
 * date; prints where the source came from and where the bundle and Bun are.
 * See scripts/lib/sandbox-runtime.ts.
 */
import { stat } from "node:fs/promises";
import { ensureSandboxRuntime, RUNTIME_TAG } from "./lib/sandbox-runtime.ts";

const started = performance.now();
try {
  const runtime = await ensureSandboxRuntime();
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const bytes = (await stat(runtime.bundle)).size;
  console.log(`source: ${runtime.sourceDir} (from ${runtime.from}, ${RUNTIME_TAG})`);
  console.log(`bundle: ${runtime.bundle} (${bytes} bytes, ${runtime.built ? "built" : "up to date"} in ${seconds} s)`);
  console.log(`bun:    ${runtime.bun} (${runtime.bunVersion})`);
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  if (error instanceof Error && error.cause instanceof Error) console.error(`  (${error.cause.message})`);
  process.exitCode = 1;
}
