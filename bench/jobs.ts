/**
 * @module bench/jobs
 * `npm run bench:jobs`: leasing throughput/latency and the overhead of a no-op job
 * (issue 4, point 8), on the one backend (cloudflare: each project is the SDK's Sandbox
 * Durable Object, its container a local jail). The Worker is the deploy bundle in workerd
 * under Miniflare (bench/workerd.ts: production-like, no Docker, so its Sandbox Durable
 * Object's container is a jail at SANDBOXD_URL), D1 and R2 on disk in a temp dir with the
 * D1 migrations applied by wrangler; everything on 127.0.0.1, all stopped and deleted at
 * the end. The npm script builds the runner first.
 *
 * 1. Leasing, with the Worker's SANDBOXD_URL pointed at a STAND-IN jail host
 *    (bench/standin-jail-host.ts) that answers the container start and the runtime calls
 *    of a job start at once and spawns nothing: BENCH_JOBS (1,000) jobs in as many
 *    projects, then /run-next until all are leased, at one client (latency) and, on a
 *    fresh Worker and D1, at BENCH_LEASE_CONCURRENCY clients (throughput). These numbers
 *    are the Worker's /run-next path — including a new Sandbox Durable Object per project
 *    and its container-start handshake — without a real jail start, restore or runner.
 *    Why a stand-in rather than real jails: each real lease of a fresh project starts a
 *    jail (bubblewrap + Bun, ~0.4–1 s and ~60 MiB each) and a runner, so 1,000 of them
 *    would take many minutes and measure the jail host, not leasing; row 3 gives the real
 *    figure on a small count.
 * 2. No-op jobs on real jails (sandboxd running Cloudflare's runtime, the bundled runner
 *    in the jail calling back through RUNNER_API_URL): one cold first job of a fresh
 *    project, then BENCH_NOOP (20) jobs one at a time (bench/jobs-noop.ts), and start-up
 *    probes.
 * 2b. A no-op job on a project whose head holds a 10,000-file tree (issue 14, point 3;
 *    bench/jobs-large-project.ts), BENCH_LARGE_ROUNDS (3; 0 skips it) rounds beside the
 *    runner CLI's restore + no-change snapshot in the same sandbox, on a Worker whose jails
 *    reach it through a counting proxy (bench/counting-proxy.ts): requests and bytes per phase.
 * 3. Leasing with real starts: BENCH_REAL_LEASES (20) jobs in as many projects leased at
 *    one client against real jails (each call starts a jail, restores the fresh
 *    workspace and starts a real runner), then waits for those jobs to end.
 * Bounded: a total budget (hard stop) and per-run deadlines.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken } from "../scripts/lib/net.ts";
import { Supervisor } from "../scripts/lib/proc.ts";
import { REPO_ROOT, startSandboxd } from "../scripts/lib/services.ts";
import { type CountingProxy, startCountingProxy } from "./counting-proxy.ts";
import { isTerminal, type JobsApi, jobsApi } from "./jobs-api.ts";
import { type LargeProjectRun, largeProjectRun } from "./jobs-large-project.ts";
import { printLargeProject } from "./jobs-large-report.ts";
import { type LeaseRun, leaseRun } from "./jobs-lease.ts";
import { execProbe, type NoopSample, noopJob, POLL_MS, RUNNER_VERSION_COMMAND } from "./jobs-noop.ts";
import { printJobsReport } from "./jobs-report.ts";
import { guardRun, runBench } from "./lifecycle.ts";
import { type StandinJailHost, startStandinJailHost } from "./standin-jail-host.ts";
import { startMigratedWorkerd, type WorkerdWorker } from "./workerd.ts";

const JOBS = Number(process.env.BENCH_JOBS ?? "1000");
const CONCURRENCY = Number(process.env.BENCH_LEASE_CONCURRENCY ?? "16");
const NOOP = Number(process.env.BENCH_NOOP ?? "20");
const REAL_LEASES = Number(process.env.BENCH_REAL_LEASES ?? "20");
const TOTAL_BUDGET_MS = 15 * 60_000;
const RUN_BUDGET_MS = 3 * 60_000;
const PROBES = 10;
/** The large-project part (issue 14, point 3): rounds (0 skips it) and the tree's size. */
const LARGE = {
  rounds: Number(process.env.BENCH_LARGE_ROUNDS ?? "3"),
  files: Number(process.env.BENCH_LARGE_FILES ?? "10000"),
  bytes: Number(process.env.BENCH_LARGE_BYTES ?? String(100 * 1000 * 1000)),
};
const TARGETS = { leaseP50Ms: 20, overheadMs: 1000 };
const RUNNER = join(REPO_ROOT, "dist", "runner", "runner.mjs");

/**
 * A Worker in workerd with its own D1 in `dir`, its sandboxes' containers jails at `sandboxd`.
 * `runnerApiUrl` replaces the Worker's own address as where jails reach it (a counting proxy).
 */
async function worker(
  dir: string,
  sandboxd: { url: string; token: string },
  apiToken: string,
  opts: { scriptPath?: string | undefined; runnerApiUrl?: string; vars?: Record<string, string> } = {},
): Promise<WorkerdWorker> {
  const port = await freePort();
  return await startMigratedWorkerd(dir, {
    port,
    ...(opts.scriptPath ? { scriptPath: opts.scriptPath } : {}),
    vars: {
      SANDBOXD_URL: sandboxd.url,
      SANDBOXD_TOKEN: sandboxd.token,
      API_TOKEN: apiToken,
      // Runners call the Worker back here (the socket startWorkerd binds to `port`).
      RUNNER_API_URL: opts.runnerApiUrl ?? `http://127.0.0.1:${port}`,
      SYNC_ON_CREATE: "false",
      ...opts.vars,
    },
  });
}

/** Waits (bounded) until every job in `ids` has ended; returns how many succeeded. */
async function waitAll(api: JobsApi, ids: string[], deadline: number): Promise<{ succeeded: number; ended: number }> {
  let succeeded = 0;
  let ended = 0;
  for (const id of ids) {
    for (;;) {
      const job = await api.get(id);
      if (isTerminal(job)) {
        ended++;
        if (job.status === "succeeded") succeeded++;
        break;
      }
      if (Date.now() > deadline) return { succeeded, ended };
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { succeeded, ended };
}

async function main(): Promise<void> {
  if (!existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run \`npm run build:runner\` first`);
  const deadline = Date.now() + TOTAL_BUDGET_MS;
  const budget = () => Math.min(deadline, Date.now() + RUN_BUDGET_MS);
  const root = await mkdtemp(join(tmpdir(), "sandbox-bench-jobs-"));
  const workers: WorkerdWorker[] = [];
  let standin: StandinJailHost | undefined;
  let proxy: CountingProxy | undefined;
  const sup = new Supervisor((child, code) => {
    console.error(`bench: ${child.name} exited unexpectedly (code ${code}); last output:\n${child.tail().join("\n")}`);
    void guard.stop().then(() => process.exit(1));
  });
  // One cleanup for the normal end, the signals and the hard stop past the budget.
  const guard = guardRun(TOTAL_BUDGET_MS + 30_000, async () => {
    for (const w of workers) await w.stop().catch(() => undefined);
    await standin?.stop().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    await sup.stopAll();
    await rm(root, { recursive: true, force: true });
  });

  try {
    const apiToken = randomToken();
    const leases: LeaseRun[] = [];

    // 1. Leasing against the stand-in: each run on a fresh Worker and D1, so the leases
    //    of one run (60 s long, never finished: no runner) cannot expire into the next.
    standin = await startStandinJailHost(randomToken());
    console.log(`bench: leasing ${JOBS} jobs against the stand-in jail host (${cpus().length} CPUs) …`);
    // The stand-in answers the runtime's HTTP API, not its WebSocket transport (the default).
    const viaHttp = { SANDBOX_TRANSPORT: "http" };
    const a = await worker(join(root, "lease-1"), standin, apiToken, { vars: viaHttp });
    workers.push(a);
    leases.push(await leaseRun(jobsApi(a.url, apiToken), "stand-in jail host", JOBS, 1, budget()));
    console.log(`bench: 1 client done; ${CONCURRENCY} clients on a fresh Worker and D1 …`);
    const b = await worker(join(root, `lease-${CONCURRENCY}`), standin, apiToken, {
      scriptPath: a.scriptPath,
      vars: viaHttp,
    });
    workers.push(b);
    leases.push(await leaseRun(jobsApi(b.url, apiToken), "stand-in jail host", JOBS, CONCURRENCY, budget()));
    const standinJails = standin.jails;
    const standinStarts = standin.starts;
    for (const w of workers.splice(0)) await w.stop();
    await standin.stop();

    // 2. No-op jobs on real jails, one at a time.
    console.log("bench: starting sandboxd (jails on Cloudflare's runtime) and the Worker …");
    const sandboxd = await startSandboxd(sup, { root: join(root, "sandboxd"), output: "quiet" });
    const c = await worker(join(root, "real"), sandboxd, apiToken, { scriptPath: a.scriptPath });
    workers.push(c);
    const api = jobsApi(c.url, apiToken);
    const project = `bench-noop-${randomBytes(3).toString("hex")}`;
    console.log(`bench: no-op jobs: 1 cold + ${NOOP} in ${project} …`);
    const cold = await noopJob(api, project);
    const noop: NoopSample[] = [];
    const noopDeadline = budget();
    for (let i = 0; i < NOOP && Date.now() < noopDeadline; i++) noop.push(await noopJob(api, project));
    const probes = {
      execTrue: await execProbe(c.url, apiToken, project, "true", PROBES),
      runnerVersion: await execProbe(c.url, apiToken, project, RUNNER_VERSION_COMMAND, PROBES),
    };

    // 2b. A no-op job on a 10,000-file project, on a Worker whose jails reach it through a counting proxy.
    let large: LargeProjectRun | null = null;
    if (LARGE.rounds > 0) {
      proxy = await startCountingProxy();
      const runnerSecret = randomToken();
      const d = await worker(join(root, "large"), sandboxd, apiToken, {
        scriptPath: a.scriptPath,
        runnerApiUrl: proxy.url,
        vars: { RUNNER_TOKEN_SECRET: runnerSecret },
      });
      workers.push(d);
      proxy.target = d.url;
      large = await largeProjectRun(
        {
          root,
          api: jobsApi(d.url, apiToken),
          workerUrl: d.url,
          apiToken,
          runnerSecret,
          runnerPath: RUNNER,
          proxy,
          files: LARGE.files,
          bytes: LARGE.bytes,
          rounds: LARGE.rounds,
          deadline: budget(),
        },
        `bench-large-${randomBytes(3).toString("hex")}`,
      );
    }

    // 3. Leasing with real starts (fewer jobs: each call also spawns a real runner).
    console.log(`bench: leasing ${REAL_LEASES} jobs with real runner starts …`);
    const real = await leaseRun(api, "real jails (start jail + runner)", REAL_LEASES, 1, budget());
    leases.push(real);
    const ended = await waitAll(api, real.ids, budget());

    printJobsReport({
      title:
        `bench:jobs — Worker bundle in workerd (miniflare ${c.miniflareVersion}), D1/R2 on disk, ` +
        `${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), Node ${process.version}`,
      leases,
      noop,
      cold,
      probes,
      targets: TARGETS,
      notes: [
        `leasing rows 1–2: the Worker's SANDBOXD_URL is a STAND-IN jail host (bench/standin-jail-host.ts) answering ` +
          `the container start and the runtime's calls at once (${standinJails} jails, ${standinStarts} runner starts ` +
          "answered): they include the whole /run-next path in the Worker (lease sweep, D1 lease, status event, job " +
          "token, a new Sandbox Durable Object per project with its container-start handshake, the ensure exec, the " +
          "process listing and the runner's start, each a loopback HTTP hop) and EXCLUDE the jail's start, the " +
          "workspace restore and any process the runtime would spawn. Each run queued its jobs first, on a fresh " +
          "Worker and D1.",
        `leasing row 3: real jails; each call also starts the project's jail (bubblewrap + Bun + the runtime), ` +
          "restores its fresh workspace (a runner run) and starts the runner " +
          `(runners then run concurrently with later calls); ${ended.succeeded} of ${real.ids.length} of its jobs ` +
          `succeeded${ended.ended < real.ids.length ? ` (${real.ids.length - ended.ended} still running at the deadline)` : ""}.`,
        `no-op overhead = finishedAt − startedAt (both the Worker's clock: lease and result) − timings.agent ` +
          `(the command's own time); the client poll (every ${POLL_MS} ms) is not part of it. "cold 1st job" is the ` +
          "first job of a fresh project (not in p50/p99); later jobs restore the head the previous job made.",
        '"outside runner" = runner start (Worker → Sandbox Durable Object → the runtime\'s process start in the jail, ' +
          "Node + bundle load) before " +
          "timings.total starts, plus the final event flush and result post after it ends.",
        '"first runner event" includes the runner\'s event batching (flushes every 500 ms or at the end).',
      ],
    });
    if (large) printLargeProject(large);
  } catch (err) {
    for (const ch of sup.children) console.error(`--- last output of ${ch.name} ---\n${ch.tail().join("\n")}`);
    throw err;
  } finally {
    await guard.finish();
  }
}

runBench(main);
