/**
 * @module bench/api
 * `npm run bench:api`: how much the Worker adds on top of a sandbox's container, on the
 * one backend (cloudflare: each project is the SDK's Sandbox Durable Object, its
 * container a local jail in sandboxd running Cloudflare's container runtime).
 *
 * Starts the stack the end-to-end tests use (test/support/stack.ts: sandboxd with the
 * runtime, migrated local D1, the Worker under `wrangler dev` without containers: what a
 * developer hits) and, on the same sandboxd, the deploy bundle in workerd under
 * Miniflare (bench/workerd.ts: no dev proxy, production-like; its Sandbox Durable Object
 * has no container either, so it gets a jail the same way). Each path has its own
 * sandbox with a 4 KiB file. Measures `echo hi` and the 4 KiB read three ways — the
 * runtime called straight through sandboxd's jail proxy (`/jails/:id/container/api/...`,
 * bench/direct.ts: the reference), through the Worker in workerd, through `wrangler
 * dev` — at one client (the three paths interleaved per iteration, so drift hits all
 * alike) and at BENCH_CONCURRENCY clients (throughput, errors); GET /health is measured
 * too as the fixed cost of each path. Then, over BENCH_STARTS fresh sandboxes each: a
 * jail's start to its first exec through the proxy, and (information) a sandbox's
 * create through the Worker in workerd to its first exec; and the VmRSS of an idle
 * jail's runtime (the pid `POST /jails/:id` returns) after 2 s idle.
 * Targets: Worker exec ≤ 1.3× direct at p50 (checked on workerd), start to first exec
 * ≤ 500 ms p50, idle sandbox ≤ 80 MiB RSS; printed with met/MISSED (bench/report.ts), a
 * miss is not an exit code.
 *
 * Bounded: BENCH_N requests per run (default 200), each run stops issuing at its own
 * deadline, the whole benchmark at a total budget; everything started is stopped.
 * Env: BENCH_N, BENCH_CONCURRENCY (default 32), BENCH_STARTS (default 10).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken } from "../scripts/lib/net.ts";
import { type Stack, startStack } from "../test/support/stack.ts";
import { directOps, jailHost } from "./direct.ts";
import { guardRun, runBench } from "./lifecycle.ts";
import { interleaved, type Op, quantile, run } from "./measure.ts";
import { fmt, type Line, type Measured, type OpResult, PATHS, type PathName, printReport } from "./report.ts";
import { type PathOps, setUpSandbox, workerEcho, workerFetch, workerOps } from "./worker.ts";
import { startMigratedWorkerd, type WorkerdWorker } from "./workerd.ts";

const N = Number(process.env.BENCH_N ?? "200");
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? "32");
const STARTS = Number(process.env.BENCH_STARTS ?? "10");
const WARMUP = Math.min(20, N);
/** The whole benchmark must end; each measurement run also stops issuing at its own deadline. */
const TOTAL_BUDGET_MS = 10 * 60_000;
const RUN_BUDGET_MS = 60_000;
const TARGET_RATIO = 1.3;
const TARGET_START_MS = 500;
const TARGET_RSS_MIB = 80;
const IDLE_MS = 2000;
const FILE_BYTES = 4096;
const FILE_PATH = "/workspace/bench.txt";
/** ASCII, so the runtime's JSON read returns exactly FILE_BYTES characters. */
const CONTENT = randomBytes(FILE_BYTES).toString("base64").slice(0, FILE_BYTES);

const OPS = [
  { op: "health", key: "health", role: "floor" },
  { op: "exec echo hi", key: "exec", role: "target" },
  // Reported, not a target (the target is exec): the Worker streams a file, the reference does not.
  { op: "read 4 KiB", key: "read", role: "report" },
] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stats = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
};

/** VmRSS of `pid` in MiB (NaN when the process or the field is gone). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

/** Retries `op` every 5 ms until it succeeds (a fresh runtime may not answer its first call). */
async function untilOk(op: Op, tries = 400): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= tries) throw err;
      await sleep(5);
    }
  }
}

async function main(): Promise<void> {
  const deadline = Date.now() + TOTAL_BUDGET_MS;
  const budget = () => Math.min(deadline, Date.now() + RUN_BUDGET_MS);
  const root = await mkdtemp(join(tmpdir(), "sandbox-bench-api-"));
  let stack: Stack | undefined;
  let workerd: WorkerdWorker | undefined;
  // One cleanup for the normal end, the signals and the hard stop past the budget.
  const guard = guardRun(TOTAL_BUDGET_MS + 30_000, async () => {
    await workerd?.stop().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  });

  try {
    console.log(
      `bench: starting sandboxd, the Worker under wrangler dev and in workerd ` +
        `(N=${N} per run, ${CONCURRENCY} clients, ${STARTS} starts, ${cpus().length} CPUs) …`,
    );
    stack = await startStack({}, ["--log-level", "warn"]);
    const sd = stack.sandboxd;
    const apiToken = stack.apiToken;
    const port = await freePort();
    workerd = await startMigratedWorkerd(root, {
      port,
      vars: {
        SANDBOXD_URL: sd.url,
        SANDBOXD_TOKEN: sd.token,
        API_TOKEN: apiToken,
        RUNNER_TOKEN_SECRET: randomToken(),
        // As the stack's wrangler dev: runners in the jails call the Worker back here.
        RUNNER_API_URL: `http://127.0.0.1:${port}`,
        SYNC_ON_CREATE: "false",
      },
    });
    if (workerd.miniflareVersion !== workerd.wranglerMiniflareVersion) {
      console.warn(
        `bench: miniflare ${workerd.miniflareVersion} differs from wrangler's ${workerd.wranglerMiniflareVersion}; ` +
          "pin package.json's miniflare to wrangler's so both Worker paths run the same workerd",
      );
    }
    console.log(
      `bench: sandboxd ${sd.url}${sd.isolated ? "" : " (NOT isolated: no bwrap)"}, ` +
        `workerd ${workerd.url} (miniflare ${workerd.miniflareVersion}), wrangler dev ${stack.url}`,
    );

    // A sandbox per path: the Durable Object of each Worker names its own jail; the direct path has its own.
    const tag = randomBytes(4).toString("hex");
    const projects = { workerd: `bench-wd-${tag}`, "wrangler dev": `bench-dev-${tag}` };
    const directId = `bench-direct-${tag}`;
    const host = jailHost(sd.url, sd.token);
    await setUpSandbox(workerd.url, apiToken, projects.workerd, FILE_PATH, CONTENT);
    await setUpSandbox(stack.url, apiToken, projects["wrangler dev"], FILE_PATH, CONTENT);
    await host.start(directId);
    await untilOk(host.echo(directId));
    await host.write(directId, FILE_PATH, CONTENT);
    const paths: Record<PathName, PathOps> = {
      direct: directOps(sd.url, sd.token, directId, FILE_PATH, CONTENT),
      workerd: workerOps(workerd.url, apiToken, projects.workerd, FILE_PATH, FILE_BYTES),
      "wrangler dev": workerOps(stack.url, apiToken, projects["wrangler dev"], FILE_PATH, FILE_BYTES),
    };

    // Warm everything up first (JIT in workerd, Node and Bun, connection pools, page cache),
    // so the op measured first is not the one that pays for it.
    for (const { key } of OPS) {
      await interleaved(
        PATHS.map((p) => paths[p][key]),
        WARMUP,
        budget(),
      );
    }
    const results: OpResult[] = [];
    for (const { op, key, role } of OPS) {
      const lat = await interleaved(
        PATHS.map((p) => paths[p][key]),
        N,
        budget(),
      );
      const byPath = {} as Record<PathName, Measured>;
      for (const [i, path] of PATHS.entries()) {
        const load = await run(paths[path][key], N, CONCURRENCY, budget());
        byPath[path] = { lat: lat[i] as Measured["lat"], load };
      }
      results.push({ op, role, byPath });
      console.log(
        `bench: ${op}: done (${N} × ${PATHS.length} interleaved at 1 client, ${N} per path at ${CONCURRENCY})`,
      );
    }

    // Fresh jails: start → first successful exec through the proxy; the first one also gives the idle RSS.
    const jailStart: number[] = [];
    let rss = Number.NaN;
    for (let i = 0; i < STARTS && Date.now() < deadline; i++) {
      const id = `bench-start-${tag}-${i}`;
      const t0 = performance.now();
      const pid = await host.start(id);
      await untilOk(host.echo(id));
      jailStart.push(performance.now() - t0);
      if (i === 0) {
        await sleep(IDLE_MS);
        rss = await rssMiB(pid);
      }
      await host.destroy(id);
    }
    console.log(`bench: ${jailStart.length} fresh jails started and destroyed`);

    // Fresh sandboxes through the Worker (workerd): create (container start, ensure, restore) → first exec.
    const sandboxStart: number[] = [];
    const call = workerFetch(workerd.url, apiToken);
    for (let i = 0; i < STARTS && Date.now() < deadline; i++) {
      const id = `bench-create-${tag}-${i}`;
      const t0 = performance.now();
      const res = await call(`/sandboxes/${id}`, { method: "POST" });
      if (!res.ok) throw new Error(`create ${id}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      await res.arrayBuffer();
      await workerEcho(workerd.url, apiToken, id)();
      sandboxStart.push(performance.now() - t0);
      await call(`/sandboxes/${id}?destroy=true`, { method: "DELETE" }).then((r) => r.arrayBuffer());
    }
    console.log(`bench: ${sandboxStart.length} fresh sandboxes created through the Worker and destroyed`);

    const js = stats(jailStart);
    const ss = stats(sandboxStart);
    const more: Line[] = [
      {
        name: "jail start → first exec (direct), p50 / p95",
        value: `${fmt(js.p50, 0)} / ${fmt(js.p95, 0)} ms`,
        bound: `≤ ${TARGET_START_MS} ms p50`,
        met: js.p50 <= TARGET_START_MS,
      },
      {
        name: "sandbox create → first exec (Worker in workerd), p50 / p95",
        value: `${fmt(ss.p50, 0)} / ${fmt(ss.p95, 0)} ms`,
        bound: "",
        met: null,
      },
      {
        name: `idle jail runtime VmRSS (${IDLE_MS / 1000} s idle)`,
        value: `${fmt(rss, 1)} MiB`,
        bound: `≤ ${TARGET_RSS_MIB} MiB`,
        met: rss <= TARGET_RSS_MIB,
      },
    ];
    console.log(
      `\nbench:api — cloudflare backend on local jails; ${N} iterations per path at 1 client, ` +
        `${CONCURRENCY} clients for throughput; ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), Node ${process.version}`,
    );
    printReport(results, { ratio: TARGET_RATIO, ratioPath: "workerd", concurrency: CONCURRENCY }, more, [
      "direct = the runtime's own API through sandboxd's jail proxy (no Worker, no Durable Object); each Worker " +
        "path adds the Worker, the Sandbox Durable Object (SDK) and its hop to the same proxy, and every sandbox " +
        "route first runs the ensure step (an RPC to the Durable Object, which remembers a restored workspace). " +
        "The Worker's file read streams (readFileStream), the direct one is a plain /api/read.",
      "workerd = the deploy bundle in workerd under Miniflare (production-like, the ratio target is checked there); " +
        "wrangler dev = the stack the end-to-end tests start. Neither has Docker: each sandbox's container is a jail.",
      `start: ${STARTS} fresh jails (POST /jails/:id until an exec answers) and ${STARTS} fresh sandboxes through the ` +
        "Worker (POST /sandboxes/:id — container start, ensure, restore — then one exec), each destroyed after.",
    ]);

    await call(`/sandboxes/${projects.workerd}?destroy=true`, { method: "DELETE" }).catch(() => undefined);
    await workerFetch(stack.url, apiToken)(`/sandboxes/${projects["wrangler dev"]}?destroy=true`, {
      method: "DELETE",
    }).catch(() => undefined);
    await host.destroy(directId).catch(() => undefined);
  } catch (err) {
    for (const c of stack?.supervisor.children ?? [])
      console.error(`--- last output of ${c.name} ---\n${c.tail().join("\n")}`);
    throw err;
  } finally {
    await guard.finish();
  }
}

runBench(main);
