/**
 * @module bench/api
 * `npm run bench:api`: how much the Worker adds on top of the local backend.
 *
 * Starts its own sandboxd and `wrangler dev` (local backend, no containers) on free
 * 127.0.0.1 ports, creates a project sandbox with a 4 KiB file, and measures
 * `exec true` and a raw 4 KiB file read twice — through the Worker's REST API and
 * straight to sandboxd's API — at concurrency 1 (latency) and at 32 concurrent
 * clients (throughput, errors). Prints a table, the Worker/direct ratio at p50
 * and whether the targets are met; a missed target is reported, not an exit code.
 *
 * Env: BENCH_N (requests per run, default 300), BENCH_CONCURRENCY (default 32).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken } from "../scripts/lib/net.ts";
import { Supervisor } from "../scripts/lib/proc.ts";
import { startSandboxd, startWorkerDev } from "../scripts/lib/services.ts";
import { directOps } from "./direct.ts";
import { expectOk, type Op, type RunResult, run } from "./measure.ts";

const N = Number(process.env.BENCH_N ?? "300");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? "32");
const WARMUP = Math.min(50, N);
/** The whole benchmark must end; each measurement run also stops issuing at its own deadline. */
const TOTAL_BUDGET_MS = 10 * 60_000;
const RUN_BUDGET_MS = 60_000;
const TARGET_RATIO = 1.3;
const FILE_BYTES = 4096;
const FILE_PATH = "/workspace/bench.bin";

/** The calls measured on one path (Worker or direct). */
interface PathOps {
  /** GET /health: no sandbox work, so it shows the fixed cost of the path itself. */
  health: Op;
  exec: Op;
  read: Op;
}

function workerOps(url: string, token: string, projectId: string): PathOps {
  const auth = { authorization: `Bearer ${token}` };
  return {
    health: async () => {
      await expectOk(await fetch(`${url}/health`), "health");
    },
    exec: async () => {
      const res = await fetch(`${url}/sandboxes/${projectId}/exec`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ command: "true" }),
      });
      const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as {
        data?: { exitCode?: number };
      };
      if (body.data?.exitCode !== 0) throw new Error(`exec: exit code ${body.data?.exitCode}`);
    },
    read: async () => {
      const res = await fetch(`${url}/sandboxes/${projectId}/files${FILE_PATH}`, {
        headers: { ...auth, accept: "application/octet-stream" },
      });
      const bytes = await expectOk(res, "read");
      if (bytes.byteLength !== FILE_BYTES) throw new Error(`read: ${bytes.byteLength} bytes, expected ${FILE_BYTES}`);
    },
  };
}

async function setUp(url: string, token: string, projectId: string): Promise<void> {
  const auth = { authorization: `Bearer ${token}` };
  await expectOk(await fetch(`${url}/sandboxes/${projectId}`, { method: "POST", headers: auth }), "create");
  const put = await fetch(`${url}/sandboxes/${projectId}/files${FILE_PATH}`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/octet-stream" },
    body: randomBytes(FILE_BYTES),
  });
  await expectOk(put, "write");
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

interface Row {
  op: string;
  path: string;
  lat: RunResult;
  load: RunResult;
}

function report(rows: Row[]): void {
  const c = CONCURRENCY;
  const header = ["op", "path", "p50 ms", "p99 ms", "req/s c=1", `p50 ms c=${c}`, `req/s c=${c}`, `errors c=1/c=${c}`];
  const lines = rows.map((r) => [
    r.op,
    r.path,
    fmt(r.lat.p50Ms),
    fmt(r.lat.p99Ms),
    fmt(r.lat.rps, 0),
    fmt(r.load.p50Ms),
    fmt(r.load.rps, 0),
    `${r.lat.errors}/${r.load.errors}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const show = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${show(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const l of lines) console.log(show(l));
  console.log("");
  // GET /health does no sandbox work, so Worker minus direct there is the fixed cost of
  // the path itself: wrangler dev's proxy worker, workerd, routing and auth.
  const wh = rows.find((r) => r.op === "health" && r.path === "worker");
  const dh = rows.find((r) => r.op === "health" && r.path === "direct");
  const fixed = wh && dh ? wh.lat.p50Ms - dh.lat.p50Ms : Number.NaN;
  console.log(`fixed cost of the Worker path at p50 (health, Worker − direct): ${fmt(fixed)} ms`);
  for (const op of ["exec true", "read 4 KiB"]) {
    const worker = rows.find((r) => r.op === op && r.path === "worker");
    const direct = rows.find((r) => r.op === op && r.path === "direct");
    if (!worker || !direct) continue;
    const ratio = worker.lat.p50Ms / direct.lat.p50Ms;
    const ratioOk = ratio <= TARGET_RATIO;
    const errorsOk = worker.load.errors === 0 && direct.load.errors === 0;
    console.log(
      `${op.padEnd(10)}  Worker/direct p50 = ${fmt(ratio)} (target ≤ ${TARGET_RATIO}: ${ratioOk ? "met" : "MISSED"})` +
        `  errors at ${CONCURRENCY} clients: ${worker.load.errors + direct.load.errors} (target 0: ${errorsOk ? "met" : "MISSED"})`,
    );
    console.log(
      `${"".padEnd(10)}  without the fixed cost: ${fmt((worker.lat.p50Ms - fixed) / direct.lat.p50Ms)} (information only)`,
    );
  }
  for (const r of rows) {
    for (const s of [...r.lat.errorSamples, ...r.load.errorSamples]) console.log(`  ${r.op} via ${r.path}: ${s}`);
  }
}

async function main(): Promise<void> {
  const deadline = Date.now() + TOTAL_BUDGET_MS;
  const sup = new Supervisor((child, code) => {
    console.error(`bench: ${child.name} exited unexpectedly (code ${code}); last output:\n${child.tail().join("\n")}`);
    void sup.stopAll().then(() => process.exit(1));
  });
  const root = await mkdtemp(join(tmpdir(), "sandbox-bench-"));
  const stopAll = async () => {
    await sup.stopAll();
    await rm(root, { recursive: true, force: true });
  };
  const hardStop = setTimeout(() => {
    console.error(`bench: over the ${TOTAL_BUDGET_MS / 1000} s budget; stopping`);
    void stopAll().then(() => process.exit(1));
  }, TOTAL_BUDGET_MS + 30_000);
  hardStop.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => void stopAll().then(() => process.exit(130)));
  }

  try {
    console.log(`bench: starting sandboxd and wrangler dev (N=${N}, concurrency ${CONCURRENCY}) …`);
    const sandboxd = await startSandboxd(sup, { root: join(root, "sandboxd"), output: "quiet" });
    const apiToken = randomToken();
    const worker = await startWorkerDev(sup, {
      port: await freePort(),
      containers: false,
      vars: {
        SANDBOX_BACKEND: "local",
        SANDBOXD_URL: sandboxd.url,
        SANDBOXD_TOKEN: sandboxd.token,
        API_TOKEN: apiToken,
      },
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
    const projectId = `bench-${randomBytes(4).toString("hex")}`;
    await setUp(worker.url, apiToken, projectId);
    const budget = () => Math.min(deadline, Date.now() + RUN_BUDGET_MS);
    const paths: Record<"worker" | "direct", PathOps> = {
      worker: workerOps(worker.url, apiToken, projectId),
      direct: directOps(sandboxd.url, sandboxd.token, projectId, FILE_PATH, FILE_BYTES),
    };

    const ops = [
      ["health", "health"],
      ["exec true", "exec"],
      ["read 4 KiB", "read"],
    ] as const;
    // Warm everything up first (JIT in workerd and Node, connection pools, page cache),
    // so the op measured first is not the one that pays for it.
    for (const [, key] of ops) {
      for (const path of ["direct", "worker"] as const) await run(paths[path][key], WARMUP, 1, budget());
    }
    const rows: Row[] = [];
    for (const [op, key] of ops) {
      // Alternate the paths so slow drift (CPU frequency, caches) does not favour one.
      for (const path of ["direct", "worker"] as const) {
        const fn = paths[path][key];
        const lat = await run(fn, N, 1, budget());
        const load = await run(fn, N, CONCURRENCY, budget());
        rows.push({ op, path, lat, load });
        console.log(`bench: ${op} via ${path}: done (${lat.requests} + ${load.requests} requests)`);
      }
    }
    report(rows);
    await fetch(`${worker.url}/sandboxes/${projectId}?destroy=true`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${apiToken}` },
    }).catch(() => undefined);
  } catch (err) {
    for (const c of sup.children) console.error(`--- last output of ${c.name} ---\n${c.tail().join("\n")}`);
    throw err;
  } finally {
    clearTimeout(hardStop);
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
