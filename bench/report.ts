/**
 * @module bench/report
 * The printed result of bench/api.ts: one block per operation with a column per
 * path (direct to sandboxd, the Worker in workerd, the Worker via `wrangler dev`),
 * the fixed cost of each Worker path (GET /health), and the targets with
 * met/MISSED. A missed target is reported, not turned into an exit code.
 */
import type { RunResult } from "./measure.ts";

/** The three ways a request reaches sandboxd, in column order. */
export const PATHS = ["direct", "workerd", "wrangler dev"] as const;
export type PathName = (typeof PATHS)[number];

/** Latency run (one client) and load run (`concurrency` clients) of one op on one path. */
export interface Measured {
  lat: RunResult;
  load: RunResult;
}

/** One operation measured on every path. */
export interface OpResult {
  op: string;
  /** Whether the targets apply (false for /health, the fixed-cost floor). */
  target: boolean;
  byPath: Record<PathName, Measured>;
}

/** What the targets are (issue 2, point 10). */
export interface Targets {
  /** Worker p50 / direct p50 at one client, checked on this path. */
  ratio: number;
  ratioPath: PathName;
  concurrency: number;
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const verdict = (ok: boolean): string => (ok ? "met" : "MISSED");

function block(r: OpResult, concurrency: number): string[][] {
  const direct = r.byPath.direct.lat.p50Ms;
  const row = (label: string, cell: (m: Measured) => string): string[] => [
    `  ${label}`,
    ...PATHS.map((p) => cell(r.byPath[p])),
  ];
  return [
    [r.op, ...PATHS],
    row("p50 ms, 1 client", (m) => fmt(m.lat.p50Ms)),
    row("p99 ms, 1 client", (m) => fmt(m.lat.p99Ms)),
    row("req/s, 1 client", (m) => fmt(m.lat.rps, 0)),
    row(`p50 ms, ${concurrency} clients`, (m) => fmt(m.load.p50Ms)),
    row(`p99 ms, ${concurrency} clients`, (m) => fmt(m.load.p99Ms)),
    row(`req/s, ${concurrency} clients`, (m) => fmt(m.load.rps, 0)),
    row(`errors, 1 / ${concurrency} clients`, (m) => `${m.lat.errors} / ${m.load.errors}`),
    row("p50 vs direct, 1 client", (m) => `${fmt(m.lat.p50Ms / direct)}×`),
  ];
}

/** Prints the tables, the fixed cost of each Worker path and the targets. */
export function printReport(results: OpResult[], targets: Targets): void {
  const c = targets.concurrency;
  const blocks = results.map((r) => block(r, c));
  const all = blocks.flat();
  const widths = (all[0] ?? []).map((_, i) => Math.max(...all.map((l) => (l[i] ?? "").length)));
  const show = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("   ");
  for (const b of blocks) {
    console.log("");
    for (const line of b) console.log(show(line));
  }

  // GET /health does no sandbox work, so a Worker path minus sandboxd's own /health
  // is the fixed cost of that path: workerd, routing (and wrangler dev's proxy hop).
  const health = results.find((r) => !r.target);
  if (health) {
    const floor = health.byPath.direct.lat.p50Ms;
    const extra = PATHS.filter((p) => p !== "direct")
      .map((p) => `${p} +${fmt(health.byPath[p].lat.p50Ms - floor)} ms`)
      .join(", ");
    console.log(`\nfixed cost at p50, 1 client (GET /health, Worker minus sandboxd): ${extra}`);
  }

  console.log(
    `\ntargets (issue 2, point 10); the ratio is checked on the ${targets.ratioPath} path (production-like):`,
  );
  for (const r of results.filter((x) => x.target)) {
    const direct = r.byPath.direct.lat.p50Ms;
    const ratio = r.byPath[targets.ratioPath].lat.p50Ms / direct;
    const others = PATHS.filter((p) => p !== "direct" && p !== targets.ratioPath)
      .map((p) => `${p} ${fmt(r.byPath[p].lat.p50Ms / direct)}`)
      .join(", ");
    const errors = PATHS.map((p) => r.byPath[p].load.errors);
    const errorsOk = errors.every((e) => e === 0);
    console.log(
      `  ${r.op.padEnd(10)}  p50 ${targets.ratioPath}/direct = ${fmt(ratio)} (≤ ${targets.ratio}: ${verdict(ratio <= targets.ratio)})` +
        ` [${others}: information only]`,
    );
    console.log(
      `  ${"".padEnd(10)}  errors at ${c} clients (${PATHS.join(" / ")}) = ${errors.join(" / ")}` +
        ` (0 on every path: ${verdict(errorsOk)})`,
    );
  }
  for (const r of results) {
    for (const p of PATHS) {
      const m = r.byPath[p];
      for (const s of new Set([...m.lat.errorSamples, ...m.load.errorSamples])) console.log(`  ${r.op} via ${p}: ${s}`);
    }
  }
}
