/**
 * @module bench/jobs-large-report
 * The printed result of bench/jobs-large-project.ts: the no-op job on a 10,000-file
 * project against the runner CLI's restore + no-change snapshot in the same sandbox
 * (times, median over the rounds, each round listed), requests and body bytes per phase
 * as the counting proxy saw them, how often each manifest crossed the network, and the
 * issue's targets (issue 14, point 3) with met/MISSED. A miss is reported, never an exit code.
 */
import type { ProxiedRequest } from "./counting-proxy.ts";
import { byPhase, type LargeProjectRun, manifestCrossings, PHASES } from "./jobs-large-project.ts";
import { fmtBytes, type Target, table } from "./snapshot-report.ts";

/** Overhead of the no-op job at most this many times restore + no-change snapshot (issue 14, point 3). */
export const OVERHEAD_RATIO_BOUND = 1.2;

const f = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

function print(rows: string[][]): void {
  for (const l of table(rows)) console.log(`  ${l}`);
}

/** The most times any one manifest crossed in `log` (0 when none did). */
const mostCrossings = (log: ProxiedRequest[]): number => Math.max(0, ...manifestCrossings(log).values());

/** Prints the part's tables and targets; returns the targets (also printed). */
export function printLargeProject(r: LargeProjectRun): Target[] {
  const rounds = r.rounds;
  const refMs = rounds.map((x) => x.restore.ms + x.snapshot.ms);
  const ratios = rounds.map((x, i) => x.job.overheadMs / (refMs[i] as number));
  console.log(
    `\nno-op job on a project whose head holds ${r.tree.files} files (${fmtBytes(r.tree.bytes)}), ` +
      `${rounds.length} rounds (head seeded by one snapshot in ${(r.seedMs / 1000).toFixed(1)} s)`,
  );
  const row = (name: string, values: number[], cold?: number): string[] => [
    name,
    "",
    f(median(values)),
    values.map(f).join(" "),
    cold === undefined ? "" : f(cold),
  ];
  const t = (k: string) => rounds.map((x) => x.job.timings[k] ?? Number.NaN);
  print([
    ["ms", "", "median", "rounds", "warm-up job"],
    row(
      "job overhead = span − timings.agent",
      rounds.map((x) => x.job.overheadMs),
      r.cold.overheadMs,
    ),
    row("  timings.restore", t("restore"), r.cold.timings.restore),
    row("  timings.snapshot", t("snapshot"), r.cold.timings.snapshot),
    row("  timings.diff", t("diff"), r.cold.timings.diff),
    row(
      "  outside runner = span − timings.total",
      rounds.map((x) => x.job.outsideRunnerMs),
      r.cold.outsideRunnerMs,
    ),
    row(
      "  rest of timings.total (job fetch, before/after trees, …)",
      rounds.map(
        (x) =>
          (x.job.timings.total ?? Number.NaN) -
          ["restore", "agent", "snapshot", "diff"].reduce((n, k) => n + (x.job.timings[k] ?? 0), 0),
      ),
    ),
    row(
      "reference: POST /sandboxes/:id/restore (wall)",
      rounds.map((x) => x.restore.ms),
    ),
    row(
      "  the runner's restore durationMs",
      rounds.map((x) => x.restore.innerMs),
    ),
    row(
      "reference: POST /sandboxes/:id/snapshots, no change (wall)",
      rounds.map((x) => x.snapshot.ms),
    ),
    row(
      "  the runner's snapshot durationMs",
      rounds.map((x) => x.snapshot.innerMs),
    ),
    row("reference: restore + snapshot (wall)", refMs),
  ]);

  const last = rounds[rounds.length - 1];
  if (last) {
    console.log(
      "\nrequests and body bytes between the sandbox and the Worker, by the runner phase that sends them (last round):",
    );
    const jobPhases = byPhase(last.jobLog);
    const refRestore = byPhase(last.restore.log);
    const refSnapshot = byPhase(last.snapshot.log);
    const coldPhases = byPhase(r.coldLog);
    const cell = (m: ReturnType<typeof byPhase>, p: (typeof PHASES)[number]): string => {
      const c = m.get(p);
      return c ? `${c.requests} / ${fmtBytes(c.up)} / ${fmtBytes(c.down)}` : "";
    };
    const routes = (p: (typeof PHASES)[number]): string =>
      [...(jobPhases.get(p)?.routes ?? new Map<string, number>())].map(([k, n]) => `${k} ×${n}`).join(", ");
    const total = (log: ProxiedRequest[]) =>
      `${log.length} / ${fmtBytes(log.reduce((n, x) => n + x.up, 0))} / ${fmtBytes(log.reduce((n, x) => n + x.down, 0))}`;
    print([
      ["phase", "", "job: requests / up / down", "CLI restore", "CLI snapshot", "warm-up job", "job's routes"],
      ...PHASES.filter((p) => jobPhases.has(p) || refRestore.has(p) || refSnapshot.has(p) || coldPhases.has(p)).map(
        (p) => [p, "", cell(jobPhases, p), cell(refRestore, p), cell(refSnapshot, p), cell(coldPhases, p), routes(p)],
      ),
      ["total", "", total(last.jobLog), total(last.restore.log), total(last.snapshot.log), total(r.coldLog), ""],
    ]);
    const crossings = (log: ProxiedRequest[]) =>
      [...manifestCrossings(log)].map(([id, n]) => `${id.slice(0, 12)} ×${n}`).join(", ") || "none";
    console.log(
      `  manifests crossing the network: job ${crossings(last.jobLog)}; CLI restore ${crossings(
        last.restore.log,
      )}; CLI snapshot ${crossings(last.snapshot.log)}; warm-up job ${crossings(r.coldLog)}`,
    );
  }

  const most = Math.max(...rounds.map((x) => mostCrossings(x.jobLog)));
  const coldMost = mostCrossings(r.coldLog);
  const m = median(ratios);
  const targets: Target[] = [
    {
      name: "each manifest crosses the network at most once per job (measured jobs)",
      value: rounds.length > 0 ? `at most ${most}×` : "n/a",
      bound: "≤ 1×",
      met: rounds.length > 0 ? most <= 1 : null,
    },
    {
      name: "  … the warm-up job (its lease restores the fresh sandbox first)",
      value: `at most ${coldMost}×`,
      bound: "≤ 1×",
      met: coldMost <= 1,
    },
    {
      name: "no-op job overhead / (CLI restore + no-change snapshot)",
      value:
        rounds.length > 0
          ? `${m.toFixed(2)}× (${f(median(rounds.map((x) => x.job.overheadMs)))} / ${f(median(refMs))} ms; ` +
            `rounds ${ratios.map((x) => x.toFixed(2)).join(", ")})`
          : "n/a",
      bound: `≤ ${OVERHEAD_RATIO_BOUND}×`,
      met: rounds.length > 0 ? m <= OVERHEAD_RATIO_BOUND : null,
    },
  ];
  console.log("\ntargets (issue 14, point 3):");
  print([
    ["target", "", "measured", "bound", "verdict"],
    ...targets.map((x) => [x.name, "", x.value, x.bound, x.met === null ? "n/a" : x.met ? "met" : "MISSED"]),
  ]);
  return targets;
}
