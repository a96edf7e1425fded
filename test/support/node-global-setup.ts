/**
 * @module test/support/node-global-setup
 * Once per run of the `node` project, before any test file: the migrated local D1
 * template the end-to-end stacks copy (d1-template.ts), so that files starting
 * side by side never each run wrangler's migrations CLI for it at once.
 */
import { ensureD1Template } from "./d1-template.ts";

export default async function setup(): Promise<void> {
  await ensureD1Template();
}
