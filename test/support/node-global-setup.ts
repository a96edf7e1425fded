/**
 * @module test/support/node-global-setup
 * Once per run of the `node` project, before any test file:
 * - the runner bundle (dist/runner/runner.mjs) that sandboxes and runner tests run,
 *   built from the current source, so a file run on its own tests what it reads;
 * - the migrated local D1 template the end-to-end stacks copy (d1-template.ts), so
 *   that files starting side by side never each run wrangler's migrations CLI for it.
 */
import { buildRunner } from "../../scripts/build-runner.ts";
import { ensureD1Template } from "./d1-template.ts";

export default async function setup(): Promise<void> {
  await buildRunner();
  await ensureD1Template();
}
