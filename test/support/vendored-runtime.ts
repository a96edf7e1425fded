/**
 * @module test/support/vendored-runtime
 * Where the tests look for the pinned copy of Cloudflare's container runtime source:
 * CF_SANDBOX_RUNTIME_DIR (CI sets it), else the vendored folder beside the project.
 */
import { join, resolve } from "node:path";
import { RUNTIME_VERSION } from "../../scripts/lib/sandbox-runtime.ts";

export const VENDORED_RUNTIME_DIR = resolve(
  process.env.CF_SANDBOX_RUNTIME_DIR ||
    join(import.meta.dirname, "..", "..", "..", "shared", "vendor", `cloudflare-sandbox-runtime-${RUNTIME_VERSION}`),
);
