/**
 * @module bench/disk-runner
 * The runner's command line (container/runner/cli.ts, the same code main.ts runs)
 * with its store replaced by a DiskStore in BENCH_DISK_STORE: `snapshot`, `restore`,
 * `--version` as the real runner has them, no Worker. bench/snapshot-disk.ts bundles
 * this file the way scripts/build-runner.ts bundles main.ts (one minified ESM file),
 * so its start-up costs what the real bundle's does. The runner API settings the
 * config requires are set to placeholders there: nothing reads them.
 */
import { runCli } from "../container/runner/cli.ts";
import { DiskStore } from "./disk-store.ts";

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  makeStore: () => {
    const dir = process.env.BENCH_DISK_STORE;
    if (!dir) throw new Error("BENCH_DISK_STORE is not set");
    return new DiskStore(dir);
  },
});
process.stdout.write("", () => process.exit(code));
