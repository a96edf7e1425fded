/**
 * @module scripts/lib/worker-dev-entry
 * `wrangler dev` without its DevTools inspector: wrangler's CLI always opens one (on
 * 127.0.0.1, where any local user can attach and read the Worker's secrets), and only its
 * programmatic API, `unstable_startWorker` with `dev.inspector: false`, leaves it closed.
 * services.ts runs this file as a supervised child in the CLI's place, so `npm run dev`
 * stays one process tree per server; `npm run dev -- --inspect` runs the CLI instead.
 *
 * Argument: JSON `{ port, envFiles, enableContainers, testScheduled, persistTo }`. Prints
 * "Ready on <url>" once the Worker answers; SIGINT / SIGTERM dispose of it and exit.
 */
import { join } from "node:path";
import { unstable_startWorker } from "wrangler";

interface EntryOptions {
  port: number;
  envFiles: string[];
  enableContainers: boolean;
  testScheduled: boolean;
  /** Local D1, R2 and Durable Objects (the CLI's --persist-to). */
  persistTo: string;
}

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const opts = JSON.parse(process.argv[2] ?? "{}") as EntryOptions;

const worker = await unstable_startWorker({
  config: join(REPO_ROOT, "wrangler.jsonc"),
  envFiles: opts.envFiles,
  dev: {
    server: { hostname: "127.0.0.1", port: opts.port },
    inspector: false,
    persist: opts.persistTo,
    enableContainers: opts.enableContainers,
    testScheduled: opts.testScheduled,
    watch: true,
  },
});
await worker.ready;
console.log(`Ready on ${String(await worker.url)} (DevTools inspector off; npm run dev -- --inspect turns it on)`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void worker.dispose().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
