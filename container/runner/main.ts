/**
 * @module runner/main
 * Entry point of the in-sandbox runner (bundled to dist/runner/runner.mjs by
 * scripts/build-runner.ts, installed at RUNNER_PATH). See cli.ts for the commands.
 */
import { runCli } from "./cli.ts";

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
});
// Let stdout drain before exiting (a pipe to the Worker may be slow).
process.stdout.write("", () => process.exit(code));
