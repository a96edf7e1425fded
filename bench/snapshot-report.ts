/**
 * @module bench/snapshot-report
 * The printed result of bench/snapshot.ts: one table of every measured step
 * (runner, restic, tar) and the targets (issue 3, point 8) with the ratio,
 * the bound and met/MISSED. A missed target is reported, never turned into an exit
 * code; a target whose reference could not be measured (no restic) is "n/a".
 */

/** One measured step. */
export interface Row {
  tool: "runner" | "restic" | "tar";
  step: string;
  ms: number;
  /** The runner's own durationMs (inside the process, without Node's start-up). */
  innerMs?: number;
  bytesUp?: number;
  bytesDown?: number;
  peakRss: number | null;
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
    ["tool", "step", "wall s", "runner s", "uploaded", "downloaded", "peak RSS"],
    ...rows.map((r) => [
      r.tool,
      r.step,
      fmtS(r.ms),
      r.innerMs === undefined ? "" : fmtS(r.innerMs),
      fmtBytes(r.bytesUp),
      fmtBytes(r.bytesDown),
      r.peakRss === null ? "n/a" : `${(r.peakRss / MiB).toFixed(1)} MiB`,
    ]),
  ]);
  for (const l of lines) console.log(`  ${l}`);
  console.log("\ntargets (issue 3, point 8); ratios use wall time of each process:");
  const tl = table([
    ["target", "", "measured", "bound", "verdict"],
    ...targets.map((t) => [t.name, "", t.value, t.bound, t.met === null ? "n/a" : t.met ? "met" : "MISSED"]),
  ]);
  for (const l of tl) console.log(`  ${l}`);
  for (const n of notes) console.log(`note: ${n}`);
}

export { fmtBytes };
