/**
 * @module bench/api
 * `npm run bench:api`: how much the Worker adds on top of the local backend.
 *
 * Starts its own sandboxd, the Worker in workerd under Miniflare (the deploy bundle,
 * no dev proxy: production-like, bench/workerd.ts) and the Worker under `wrangler dev`
 * (what a developer hits), all on free 127.0.0.1 ports and all on the same sandboxd.
 * Creates a project with a 4 KiB file and measures `exec true` and a raw 4 KiB read
 * three ways — straight to sandboxd's API, through the Worker in workerd, through
 * `wrangler dev` — at one client (latency) and at 32 concurrent clients (throughput,
 * errors); GET /health is measured too as the fixed cost of each path. Prints a
 * column per path, the ratios and whether the targets are met (bench/report.ts).
 *
 * Bounded: BENCH_N requests per run (default 300), each run stops issuing at its own
 * deadline, the whole benchmark at a total budget; everything started is stopped.
 * Env: BENCH_N, BENCH_CONCURRENCY (default 32).
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken } from "../scripts/lib/net.ts";
import { Supervisor } from "../scripts/lib/proc.ts";
import { startSandboxd, startWorkerDev } from "../scripts/lib/services.ts";
import { directOps } from "./direct.ts";
import { guardRun, runBench } from "./lifecycle.ts";
import { run } from "./measure.ts";
import { type Measured, type OpResult, PATHS, type PathName, printReport } from "./report.ts";
import { type PathOps, setUpProject, workerOps } from "./worker.ts";
import { startWorkerd, type WorkerdWorker } from "./workerd.ts";

const N = Number(process.env.BENCH_N ?? "300");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? "32");
const WARMUP = Math.min(50, N);
/** The whole benchmark must end; each measurement run also stops issuing at its own deadline. */
const TOTAL_BUDGET_MS = 10 * 60_000;
const RUN_BUDGET_MS = 60_000;
const TARGET_RATIO = 1.3;
const FILE_BYTES = 4096;
const FILE_PATH = "/workspace/bench.bin";

const OPS = [
  { op: "health", key: "health", target: false },
  { op: "exec true", key: "exec", target: true },
  { op: "read 4 KiB", key: "read", target: true },
] as const;

async function main(): Promise<void> {
  const deadline = Date.now() + TOTAL_BUDGET_MS;
  let workerd: WorkerdWorker | undefined;
  const sup = new Supervisor((child, code) => {
    console.error(`bench: ${child.name} exited unexpectedly (code ${code}); last output:\n${child.tail().join("\n")}`);
    void guard.stop().then(() => process.exit(1));
  });
  const root = await mkdtemp(join(tmpdir(), "sandbox-bench-"));
  // One cleanup for the normal end, the signals and the hard stop past the budget.
  const guard = guardRun(TOTAL_BUDGET_MS + 30_000, async () => {
    await workerd?.stop().catch(() => undefined);
    await sup.stopAll();
    await rm(root, { recursive: true, force: true });
  });

  try {
    console.log(
      `bench: starting sandboxd, the Worker in workerd and under wrangler dev ` +
        `(N=${N} per run, ${CONCURRENCY} clients, ${cpus().length} CPUs) …`,
    );
    const sandboxd = await startSandboxd(sup, { root: join(root, "sandboxd"), output: "quiet" });
    const apiToken = randomToken();
    const vars = {
      SANDBOX_BACKEND: "local",
      SANDBOXD_URL: sandboxd.url,
      SANDBOXD_TOKEN: sandboxd.token,
      API_TOKEN: apiToken,
    };
    const bundleDir = join(root, "bundle");
    await mkdir(bundleDir);
    workerd = await startWorkerd({ outDir: bundleDir, port: await freePort(), vars });
    if (workerd.miniflareVersion !== workerd.wranglerMiniflareVersion) {
      console.warn(
        `bench: miniflare ${workerd.miniflareVersion} differs from wrangler's ${workerd.wranglerMiniflareVersion}; ` +
          "pin package.json's miniflare to wrangler's so both Worker paths run the same workerd",
      );
    }
    const dev = await startWorkerDev(sup, {
      port: await freePort(),
      containers: false,
      vars,
      // Own state dir and inspector port: a developer's `npm run dev` may be running.
      // Request logging off: it would cost wrangler time on every request we measure.
      extraArgs: [
        "--persist-to",
        join(root, "wrangler"),
        "--inspector-port",
        String(await freePort()),
        "--log-level",
        "warn",
      ],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      output: "quiet",
    });
    console.log(
      `bench: sandboxd ${sandboxd.url}${sandboxd.isolated ? "" : " (NOT isolated: no bwrap)"}, ` +
        `workerd ${workerd.url} (miniflare ${workerd.miniflareVersion}), wrangler dev ${dev.url}`,
    );

    const projectId = `bench-${randomBytes(4).toString("hex")}`;
    await setUpProject(workerd.url, apiToken, projectId, FILE_PATH, FILE_BYTES);
    const budget = () => Math.min(deadline, Date.now() + RUN_BUDGET_MS);
    const paths: Record<PathName, PathOps> = {
      direct: directOps(sandboxd.url, sandboxd.token, projectId, FILE_PATH, FILE_BYTES),
      workerd: workerOps(workerd.url, apiToken, projectId, FILE_PATH, FILE_BYTES),
      "wrangler dev": workerOps(dev.url, apiToken, projectId, FILE_PATH, FILE_BYTES),
    };

    // Warm everything up first (JIT in workerd and Node, connection pools, page cache),
    // so the op measured first is not the one that pays for it.
    for (const { key } of OPS) {
      for (const path of PATHS) await run(paths[path][key], WARMUP, 1, budget());
    }
    const results: OpResult[] = [];
    for (const { op, key, target } of OPS) {
      const byPath = {} as Record<PathName, Measured>;
      // Paths back to back per op so slow drift (CPU frequency, caches) hits all alike.
      for (const path of PATHS) {
        const fn = paths[path][key];
        const lat = await run(fn, N, 1, budget());
        const load = await run(fn, N, CONCURRENCY, budget());
        byPath[path] = { lat, load };
        console.log(`bench: ${op} via ${path}: done (${lat.requests} + ${load.requests} requests)`);
      }
      results.push({ op, target, byPath });
    }
    printReport(results, { ratio: TARGET_RATIO, ratioPath: "workerd", concurrency: CONCURRENCY });
    await fetch(`${workerd.url}/sandboxes/${projectId}?destroy=true`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${apiToken}` },
    }).catch(() => undefined);
  } catch (err) {
    for (const c of sup.children) console.error(`--- last output of ${c.name} ---\n${c.tail().join("\n")}`);
    throw err;
  } finally {
    await guard.finish();
  }
}

runBench(main);
