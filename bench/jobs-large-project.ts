/**
 * @module bench/jobs-large-project
 * A no-op job on a project whose head holds a 10,000-file tree (issue 14, point 3), a
 * part of bench/jobs.ts. The head is seeded with one real snapshot: the bundled runner
 * on the host snapshots a generated tree (bench/snapshot-tree.ts) through the Worker's
 * runner API. A warm-up job then brings the tree into the project's jail (the first
 * touch restores the head: ~100 MB). Each measured round runs, in alternating order:
 * - a no-op `shell` job (bench/jobs-noop.ts): restore (everything in place), agent
 *   (`true`), snapshot (no change), diff, report;
 * - the reference: the runner CLI's `restore` and then `snapshot` in the same sandbox,
 *   through the Worker's routes (POST /sandboxes/:id/restore, POST /sandboxes/:id/snapshots).
 * Every request the jail's runner makes passes a counting proxy (bench/counting-proxy.ts),
 * so requests and bytes are what crosses the network between the sandbox and the Worker.
 */
import { join } from "node:path";
import { mintRunnerToken } from "../test/support/runner-token.ts";
import type { ProxiedRequest } from "./counting-proxy.ts";
import type { JobsApi } from "./jobs-api.ts";
import { type NoopSample, noopJob } from "./jobs-noop.ts";
import { expectOk } from "./measure.ts";
import { expectSuccess, timed } from "./snapshot-proc.ts";
import { generateTree, type TreeStats } from "./snapshot-tree.ts";

/** How long after a job's end its last proxied request surely finished (the result's answer). */
const SETTLE_MS = 200;

/** Routes of the runner API, grouped by the runner phase that calls them (container/runner/run-job.ts). */
export const PHASES = ["start", "restore", "snapshot", "report", "other"] as const;
export type Phase = (typeof PHASES)[number];

/** What one request was, by route: its phase and a short name. */
export function classify(r: Pick<ProxiedRequest, "method" | "path">): { phase: Phase; route: string } {
  const p = r.path;
  if (/^\/runner\/v1\/jobs\/[^/]+$/.test(p)) return { phase: "start", route: "GET job" };
  if (/\/heartbeat$/.test(p)) return { phase: "report", route: "POST heartbeat" };
  if (/\/events$/.test(p)) return { phase: "report", route: "POST events" };
  if (/\/result$/.test(p)) return { phase: "report", route: "POST result" };
  if (/\/head$/.test(p)) return { phase: "restore", route: "GET head" };
  if (r.method === "GET" && /\/snapshots\/[0-9a-f]{64}$/.test(p)) return { phase: "restore", route: "GET manifest" };
  if (r.method === "POST" && /\/snapshots$/.test(p)) return { phase: "snapshot", route: "POST commit (manifest)" };
  if (/\/packs\//.test(p)) {
    return r.method === "GET"
      ? { phase: "restore", route: "GET pack range" }
      : { phase: "snapshot", route: `${r.method} pack` };
  }
  return { phase: "other", route: `${r.method} ${p}` };
}

/** Requests and body bytes of one phase. */
export interface PhaseCount {
  requests: number;
  up: number;
  down: number;
  routes: Map<string, number>;
}

/** Counts a request log by phase. */
export function byPhase(log: ProxiedRequest[]): Map<Phase, PhaseCount> {
  const out = new Map<Phase, PhaseCount>();
  for (const r of log) {
    const { phase, route } = classify(r);
    const c = out.get(phase) ?? { requests: 0, up: 0, down: 0, routes: new Map() };
    c.requests++;
    c.up += r.up;
    c.down += r.down;
    c.routes.set(route, (c.routes.get(route) ?? 0) + 1);
    out.set(phase, c);
  }
  return out;
}

/** How often each manifest crossed the network in `log` (fetched or committed), by snapshot id. */
export function manifestCrossings(log: ProxiedRequest[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of log) {
    const fetched = r.method === "GET" ? /\/snapshots\/([0-9a-f]{64})$/.exec(r.path)?.[1] : undefined;
    const id = fetched ?? r.committed;
    if (id) out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

/** One round: the job and the reference, each with its request log. */
export interface LargeRound {
  job: NoopSample;
  jobLog: ProxiedRequest[];
  restore: { ms: number; innerMs: number; log: ProxiedRequest[] };
  snapshot: { ms: number; innerMs: number; unchanged: boolean; log: ProxiedRequest[] };
}

/** What the large-project part measured. */
export interface LargeProjectRun {
  project: string;
  tree: TreeStats;
  seedMs: number;
  /** The warm-up job (first touch: the jail restores the whole head). */
  cold: NoopSample;
  coldLog: ProxiedRequest[];
  rounds: LargeRound[];
}

/** What the part needs from bench/jobs.ts. */
export interface LargeProjectContext {
  root: string;
  api: JobsApi;
  /** The Worker (its REST API and, for the seeding runner on the host, its runner API). */
  workerUrl: string;
  apiToken: string;
  /** The Worker's RUNNER_TOKEN_SECRET (the seeding runner's token is minted with it). */
  runnerSecret: string;
  runnerPath: string;
  proxy: { take(): ProxiedRequest[] };
  files: number;
  bytes: number;
  rounds: number;
  deadline: number;
}

async function runnerRoute(
  ctx: LargeProjectContext,
  project: string,
  route: "restore" | "snapshots",
): Promise<{ ms: number; data: { durationMs?: number; unchanged?: boolean } }> {
  const t0 = performance.now();
  const res = await fetch(`${ctx.workerUrl}/sandboxes/${project}/${route}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ctx.apiToken}`, "content-type": "application/json" },
    body: "{}",
  });
  const body = JSON.parse(new TextDecoder().decode(await expectOk(res, `POST ${route}`))) as {
    data: { durationMs?: number; unchanged?: boolean };
  };
  return { ms: performance.now() - t0, data: body.data };
}

/** Seeds a project with a 10,000-file head, warms its jail, then runs the measured rounds. */
export async function largeProjectRun(ctx: LargeProjectContext, project: string): Promise<LargeProjectRun> {
  const tree = join(ctx.root, "large-tree");
  console.log(`bench: large project ${project}: generating ${ctx.files} files …`);
  const stats = await generateTree(tree, ctx.files, ctx.bytes);
  const seed = expectSuccess(
    await timed(process.execPath, [ctx.runnerPath, "snapshot", "--json"], {
      env: {
        ...process.env,
        SANDBOX_RUNNER_API: ctx.workerUrl,
        SANDBOX_RUNNER_TOKEN: mintRunnerToken(ctx.runnerSecret, project, 3600),
        SANDBOX_PROJECT_ID: project,
        SANDBOX_WORKSPACE: tree,
        SANDBOX_STATE_DIR: `${tree}.runner-state`,
      },
      timeoutMs: 10 * 60_000,
      rssFile: join(ctx.root, "seed-rss.txt"),
    }),
    "seeding snapshot",
  );
  console.log(`bench: seeded the head in ${(seed.ms / 1000).toFixed(1)} s; warm-up job (restores it in the jail) …`);
  ctx.proxy.take();
  const cold = await noopJob(ctx.api, project);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const coldLog = ctx.proxy.take();
  const rounds: LargeRound[] = [];
  for (let i = 0; i < ctx.rounds && Date.now() < ctx.deadline; i++) {
    console.log(`bench: large project, round ${i + 1} of ${ctx.rounds}`);
    const job = async () => {
      const sample = await noopJob(ctx.api, project);
      // The result's answer may still be on its way through the proxy when the poll sees the job end.
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      return { sample, log: ctx.proxy.take() };
    };
    const reference = async () => {
      const r = await runnerRoute(ctx, project, "restore");
      const restoreLog = ctx.proxy.take();
      const s = await runnerRoute(ctx, project, "snapshots");
      return {
        restore: { ms: r.ms, innerMs: r.data.durationMs ?? Number.NaN, log: restoreLog },
        snapshot: {
          ms: s.ms,
          innerMs: s.data.durationMs ?? Number.NaN,
          unchanged: s.data.unchanged === true,
          log: ctx.proxy.take(),
        },
      };
    };
    let j: Awaited<ReturnType<typeof job>>;
    let ref: Awaited<ReturnType<typeof reference>>;
    if (i % 2 === 0) {
      j = await job();
      ref = await reference();
    } else {
      ref = await reference();
      j = await job();
    }
    rounds.push({ job: j.sample, jobLog: j.log, ...ref });
  }
  return { project, tree: stats, seedMs: seed.ms, cold, coldLog, rounds };
}
