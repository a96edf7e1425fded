/**
 * @module bench/jobs-report
 * The printed result of bench/jobs.ts: the leasing runs (calls per second, p50/p99
 * of /run-next, exactly-once checks), the no-op job overhead with its breakdown,
 * the start-up probes, and the targets (issue 4, point 8) with met/MISSED.
 * A missed target is reported, never turned into an exit code.
 */
import type { LeaseRun } from "./jobs-lease.ts";
import { type NoopSample, p50p99 } from "./jobs-noop.ts";
import { type Target, table } from "./snapshot-report.ts";

/** Everything bench/jobs.ts measured. */
export interface JobsReport {
  title: string;
  leases: LeaseRun[];
  noop: NoopSample[];
  /** The first job of a fresh project (cold: creates the sandbox, no head yet), not in `noop`. */
  cold: NoopSample | null;
  /** p50 ms of `exec true` and of `exec node runner.mjs --version` through the Worker. */
  probes: { execTrue: number; runnerVersion: number } | null;
  targets: { leaseP50Ms: number; overheadMs: number };
  notes: string[];
}

const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

function print(rows: string[][]): void {
  for (const l of table(rows)) console.log(`  ${l}`);
}

function printLeases(leases: LeaseRun[]): void {
  console.log("\nleasing: POST /run-next until every queued job is leased (one job per project)");
  print([
    ["run", "", "jobs", "clients", "leases/s", "p50 ms", "p99 ms", "errors", "dup", "missing", "re-leased"],
    ...leases.map((r) => [
      r.label,
      "",
      String(r.queued),
      String(r.concurrency),
      f(r.lease.rps, 0),
      f(r.lease.p50Ms, 2),
      f(r.lease.p99Ms, 2),
      String(r.lease.errors),
      String(r.duplicates),
      String(r.missing),
      String(r.laterAttempt),
    ]),
  ]);
  for (const r of leases) for (const e of r.lease.errorSamples) console.log(`  error (${r.label}): ${e}`);
  console.log("\nqueueing: POST /jobs (shell, command true) for the runs above");
  print([
    ["run", "", "jobs/s", "p50 ms", "p99 ms", "errors"],
    ...leases.map((r) => [
      r.label,
      "",
      f(r.queue.rps, 0),
      f(r.queue.p50Ms, 2),
      f(r.queue.p99Ms, 2),
      String(r.queue.errors),
    ]),
  ]);
}

function printNoop(noop: NoopSample[], cold: NoopSample | null): void {
  const failed = noop.filter((s) => s.status !== "succeeded").length;
  console.log(
    `\nno-op shell job (command true, empty workspace), ${noop.length} jobs one at a time (${failed} not succeeded)`,
  );
  const row = (name: string, pick: (s: NoopSample) => number | null | undefined): string[] => {
    const q = p50p99(noop.map((s) => pick(s) ?? Number.NaN));
    const c = cold ? pick(cold) : undefined;
    return [name, "", f(q.p50, 0), f(q.p99, 0), c === undefined || c === null ? "" : f(c, 0)];
  };
  print([
    ["ms", "", "p50", "p99", "cold 1st job"],
    row("overhead = span − timings.agent", (s) => s.overheadMs),
    row("span = finishedAt − startedAt (Worker)", (s) => s.spanMs),
    row("client: run-next sent → end seen (poll)", (s) => s.clientSpanMs),
    row("POST /run-next (lease + ensure + start)", (s) => s.runNextMs),
    row("outside runner = span − timings.total", (s) => s.outsideRunnerMs),
    row("lease → first runner event stored", (s) => s.firstEventMs),
    ...["restore", "agent", "snapshot", "diff", "total"].map((k) => row(`timings.${k}`, (s) => s.timings[k])),
  ]);
}

/** Prints the whole report. */
export function printJobsReport(r: JobsReport): void {
  console.log(`\n${r.title}`);
  printLeases(r.leases);
  printNoop(r.noop, r.cold);
  if (r.probes) {
    const { execTrue, runnerVersion } = r.probes;
    console.log("\nstart-up probes through the Worker (POST /sandboxes/:id/exec, p50 of 10):");
    print([
      ["probe", "", "p50 ms"],
      ["exec true (Worker → Sandbox DO → jail runtime)", "", f(execTrue, 0)],
      ["exec node runner.mjs --version", "", f(runnerVersion, 0)],
      ["difference = Node start + bundle load", "", f(runnerVersion - execTrue, 0)],
    ]);
  }
  const lease = r.leases[0];
  const overhead = p50p99(r.noop.map((s) => s.overheadMs));
  const targets: Target[] = [
    {
      name: `lease p50 (${lease?.label ?? "n/a"})`,
      value: lease ? `${f(lease.lease.p50Ms, 2)} ms` : "n/a",
      bound: `≤ ${r.targets.leaseP50Ms} ms`,
      met: lease ? lease.lease.p50Ms <= r.targets.leaseP50Ms : null,
    },
    ...(["p50", "p99"] as const).map((q) => ({
      name: `no-op job overhead ${q}`,
      value: `${f(overhead[q], 0)} ms`,
      bound: `≤ ${r.targets.overheadMs} ms`,
      met: Number.isFinite(overhead[q]) ? overhead[q] <= r.targets.overheadMs : null,
    })),
  ];
  console.log("\ntargets (issue 4, point 8):");
  print([
    ["target", "", "measured", "bound", "verdict"],
    ...targets.map((t) => [t.name, "", t.value, t.bound, t.met === null ? "n/a" : t.met ? "met" : "MISSED"]),
  ]);
  for (const n of r.notes) console.log(`note: ${n}`);
}
