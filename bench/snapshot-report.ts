/**
 * @module bench/snapshot-report
 * The printed result of bench/snapshot.ts: one table of every measured step
 * (runner, restic, tar; the median of its runs) and the issues' targets (issue 3, point 8; issue 14,
 * point 7) with the ratio,
 * the bound and met/MISSED. A missed target is reported, never turned into an exit
 * code; a target whose reference could not be measured (no restic) is "n/a".
 */

/** One measured step. */
export interface Row {
  tool: "runner" | "restic" | "tar" | "floor";
  step: string;
  ms: number;
  /** The runner's own durationMs (inside the process, without Node's start-up). */
  innerMs?: number;
  bytesUp?: number;
  bytesDown?: number;
  peakRss: number | null;
  /** Wall times of every run of this step when it ran more than once (`ms` is their median). */
  runs?: number[];
}

/** Collects runs of the same step into one row: median wall/inner time, largest RSS and bytes. */
export class Samples {
  private readonly byStep = new Map<string, Row[]>();

  /** Adds one run; returns it. */
  add(run: Row): Row {
    const key = `${run.tool}\0${run.step}`;
    const list = this.byStep.get(key) ?? [];
    list.push(run);
    this.byStep.set(key, list);
    return run;
  }

  /** One row per step, in first-run order. */
  rows(): Row[] {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;
    const most = (xs: (number | undefined | null)[]) => {
      const known = xs.filter((x): x is number => typeof x === "number");
      return known.length > 0 ? Math.max(...known) : undefined;
    };
    return [...this.byStep.values()].map((runs) => {
      const first = runs[0] as Row;
      const inner = runs.map((r) => r.innerMs).filter((x): x is number => x !== undefined);
      const row: Row = {
        tool: first.tool,
        step: first.step,
        ms: median(runs.map((r) => r.ms)),
        peakRss: most(runs.map((r) => r.peakRss)) ?? null,
      };
      if (inner.length > 0) row.innerMs = median(inner);
      const up = most(runs.map((r) => r.bytesUp));
      const down = most(runs.map((r) => r.bytesDown));
      if (up !== undefined) row.bytesUp = up;
      if (down !== undefined) row.bytesDown = down;
      if (runs.length > 1) row.runs = runs.map((r) => r.ms);
      return row;
    });
  }
}

/** One target check. */
export interface Target {
  name: string;
  /** e.g. "0.84×" or "212 KiB"; "n/a" when not measurable. */
  value: string;
  bound: string;
  met: boolean | null;
}

const MiB = 1024 * 1024;
const fmtBytes = (n: number | undefined): string =>
  n === undefined
    ? ""
    : n < 10 * 1024
      ? `${n} B`
      : n < 10 * MiB
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${(n / MiB).toFixed(1)} MiB`;
const fmtS = (ms: number): string => (ms / 1000).toFixed(3);

/** Renders a table: the first two columns left-aligned, the rest right-aligned (also bench/jobs-report.ts). */
export function table(rows: string[][]): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i <= 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** Prints the step table and the targets. */
export function printSnapshotReport(title: string, rows: Row[], targets: Target[], notes: string[]): void {
  console.log(`\n${title}\n`);
  const lines = table([
    ["tool", "step", "wall s", "runner s", "uploaded", "downloaded", "peak RSS", "runs (wall s)"],
    ...rows.map((r) => [
      r.tool,
      r.step,
      fmtS(r.ms),
      r.innerMs === undefined ? "" : fmtS(r.innerMs),
      fmtBytes(r.bytesUp),
      fmtBytes(r.bytesDown),
      r.peakRss === null ? "n/a" : `${(r.peakRss / MiB).toFixed(1)} MiB`,
      r.runs ? r.runs.map(fmtS).join(" ") : "",
    ]),
  ]);
  for (const l of lines) console.log(`  ${l}`);
  console.log("\ntargets (issue 3, point 8; disk store: issue 14, point 7); ratios use wall time of each process:");
  const tl = table([
    ["target", "", "measured", "bound", "verdict"],
    ...targets.map((t) => [t.name, "", t.value, t.bound, t.met === null ? "n/a" : t.met ? "met" : "MISSED"]),
  ]);
  for (const l of tl) console.log(`  ${l}`);
  for (const n of notes) console.log(`note: ${n}`);
}

export { fmtBytes };
