/**
 * @module bench/jobs-noop
 * The overhead half of bench/jobs.ts: no-op `shell` jobs (`command: "true"`) run
 * one at a time by the real runner in a real sandbox (a jail: Cloudflare's runtime in
 * bubblewrap, hosted by sandboxd), each POST /jobs → POST /run-next → GET /jobs/:id
 * every POLL_MS until it ends.
 *
 * Overhead = (finishedAt − startedAt) − timings.agent, both timestamps the Worker's
 * own (lease and result), so the poll interval does not enter it; the client's view
 * (run-next sent → end seen by a poll) is kept beside it. The breakdown is the
 * runner's result.timings plus what lies outside the runner's `total`: starting it
 * (Worker → Sandbox Durable Object → the runtime's process start, Node and bundle
 * load) and, after `total`, the final event flush and the result post. Probes time `exec true` and
 * `exec node runner.mjs --version` through the Worker to split the start-up.
 */
import type { Job, JobEvent } from "../src/shared/job-format.ts";
import { RUNNER_PATH } from "../src/shared/snapshot-format.ts";
import { isTerminal, type JobsApi } from "./jobs-api.ts";
import { expectOk, quantile } from "./measure.ts";

/** How often the job is polled while it runs (the task allows 20–50 ms). */
export const POLL_MS = 25;
/** Longest one no-op job may take before the benchmark gives up on it. */
const JOB_TIMEOUT_MS = 60_000;

/** One no-op job, every number in ms. */
export interface NoopSample {
  status: Job["status"];
  /** POST /run-next as the client timed it (lease + ensure + startProcess). */
  runNextMs: number;
  /** finishedAt − startedAt (the Worker's clock). */
  spanMs: number;
  /** run-next sent → terminal status seen by a poll (the client's clock). */
  clientSpanMs: number;
  overheadMs: number;
  timings: Record<string, number>;
  /** spanMs − timings.total: runner start before `total` began plus event flush and result post after. */
  outsideRunnerMs: number;
  /** Lease → the Worker stored the runner's first event (includes the runner's event-batching delay). */
  firstEventMs: number | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitTerminal(api: JobsApi, id: string): Promise<{ job: Job; seenAt: number }> {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  for (;;) {
    const job = await api.get(id);
    if (isTerminal(job)) return { job, seenAt: performance.now() };
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${JOB_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

function firstRunnerEvent(events: JobEvent[]): JobEvent | undefined {
  // Status events are the Worker's own (queued, running, the final one); the rest come from the runner.
  return events.find((e) => e.type !== "status");
}

/** Queues, leases and follows one no-op job in `projectId`. */
export async function noopJob(api: JobsApi, projectId: string): Promise<NoopSample> {
  const queued = await api.create(projectId, "true");
  const t0 = performance.now();
  const leased = await api.runNext();
  const runNextMs = performance.now() - t0;
  if (leased?.id !== queued.id) throw new Error(`/run-next leased ${leased?.id ?? "nothing"}, not ${queued.id}`);
  const { job, seenAt } = await waitTerminal(api, queued.id);
  const startedAt = Date.parse(job.startedAt ?? "");
  const spanMs = Date.parse(job.finishedAt ?? "") - startedAt;
  const timings = job.result?.timings ?? {};
  const first = firstRunnerEvent(await api.events(job.id));
  return {
    status: job.status,
    runNextMs,
    spanMs,
    clientSpanMs: seenAt - t0,
    overheadMs: spanMs - (timings.agent ?? 0),
    timings,
    outsideRunnerMs: spanMs - (timings.total ?? Number.NaN),
    firstEventMs: first ? Date.parse(first.createdAt) - startedAt : null,
  };
}

/** p50 and p99 of `values` (NaNs dropped). */
export function p50p99(values: number[]): { p50: number; p99: number; n: number } {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), n: sorted.length };
}

/**
 * Times `count` runs of `command` through POST /sandboxes/:id/exec (one at a time)
 * and returns the p50: the fixed cost of one sandboxed command through the Worker.
 */
export async function execProbe(
  url: string,
  token: string,
  projectId: string,
  command: string,
  count: number,
): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/sandboxes/${projectId}/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ command }),
    });
    const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as {
      data?: { exitCode?: number; stderr?: string };
    };
    if (body.data?.exitCode !== 0) throw new Error(`exec ${command}: exit ${body.data?.exitCode} ${body.data?.stderr}`);
    ms.push(performance.now() - t0);
  }
  return p50p99(ms).p50;
}

/** The command that loads the runner bundle in the sandbox and exits (Node start-up + bundle load). */
export const RUNNER_VERSION_COMMAND = `node "\${SANDBOX_RUNNER:-${RUNNER_PATH}}" --version`;
