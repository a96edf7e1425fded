/**
 * @module bench/report
 * The printed result of bench/api.ts: one block per operation with a column per
 * path (the runtime straight through the jail proxy, the Worker in workerd, the Worker
 * via `wrangler dev`), the fixed cost of each Worker path (GET /health), the sandbox
 * start and idle-memory rows, and the targets with met/MISSED. A missed target is
 * reported, not turned into an exit code.
 */
import type { RunResult } from "./measure.ts";

/** The three ways a request reaches a sandbox's runtime, in column order. */
export const PATHS = ["direct", "workerd", "wrangler dev"] as const;
export type PathName = (typeof PATHS)[number];
const HEADINGS: Record<PathName, string> = {
  direct: "direct (jail proxy)",
  workerd: "Worker in workerd",
  "wrangler dev": "Worker, wrangler dev",
};

/** Latency run (one client) and load run (`concurrency` clients) of one op on one path. */
export interface Measured {
  lat: RunResult;
  load: RunResult;
}

/** One operation measured on every path. */
export interface OpResult {
  op: string;
  /**
   * floor: /health, the fixed cost of each path; target: the ratio target applies;
   * report: its ratio is printed beside the targets, for information.
   */
  role: "floor" | "target" | "report";
  byPath: Record<PathName, Measured>;
}

/** A row of the summary: a measured value against its bound (met null: information only). */
export interface Line {
  name: string;
  value: string;
  bound: string;
  met: boolean | null;
}

/** What the ratio target is. */
export interface Targets {
  /** Worker p50 / direct p50 at one client, checked on this path. */
  ratio: number;
  ratioPath: PathName;
  concurrency: number;
}

export const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
const verdict = (met: boolean | null): string => (met === null ? "info" : met ? "met" : "MISSED");

function block(r: OpResult, concurrency: number): string[][] {
  const direct = r.byPath.direct.lat.p50Ms;
  const row = (label: string, cell: (m: Measured) => string): string[] => [
    `  ${label}`,
    ...PATHS.map((p) => cell(r.byPath[p])),
  ];
  return [
    [r.op, ...PATHS.map((p) => HEADINGS[p])],
    row("p50 ms, 1 client", (m) => fmt(m.lat.p50Ms)),
    row("p95 ms, 1 client", (m) => fmt(m.lat.p95Ms)),
    row("p99 ms, 1 client", (m) => fmt(m.lat.p99Ms)),
    row("req/s, 1 client", (m) => fmt(m.lat.rps, 0)),
    row(`p50 ms, ${concurrency} clients`, (m) => fmt(m.load.p50Ms)),
    row(`p99 ms, ${concurrency} clients`, (m) => fmt(m.load.p99Ms)),
    row(`req/s, ${concurrency} clients`, (m) => fmt(m.load.rps, 0)),
    row(`errors, 1 / ${concurrency} clients`, (m) => `${m.lat.errors} / ${m.load.errors}`),
    row("p50 vs direct, 1 client", (m) => `${fmt(m.lat.p50Ms / direct)}×`),
  ];
}

function table(rows: string[][]): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((l) => (l[i] ?? "").length)));
  return rows.map((cells) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("   "),
  );
}

/**
 * Prints the per-op tables, the fixed cost of each Worker path, and the summary: the
 * ratio target of each targeted op, `more` (start, memory, information rows), notes.
 */
export function printReport(results: OpResult[], targets: Targets, more: Line[], notes: string[]): void {
  const c = targets.concurrency;
  const blocks = results.map((r) => block(r, c));
  const lines = table(blocks.flat());
  let at = 0;
  for (const b of blocks) {
    console.log("");
    for (const l of lines.slice(at, at + b.length)) console.log(l);
    at += b.length;
  }

  // GET /health does no sandbox work, so a Worker path minus sandboxd's own /health
  // is the fixed cost of that path: workerd, routing (and wrangler dev's proxy hop).
  const health = results.find((r) => r.role === "floor");
  if (health) {
    const floor = health.byPath.direct.lat.p50Ms;
    const extra = PATHS.filter((p) => p !== "direct")
      .map((p) => `${p} +${fmt(health.byPath[p].lat.p50Ms - floor)} ms`)
      .join(", ");
    console.log(`\nfixed cost at p50, 1 client (GET /health, Worker minus sandboxd): ${extra}`);
  }

  const summary: Line[] = [];
  for (const r of results.filter((x) => x.role !== "floor")) {
    const direct = r.byPath.direct.lat.p50Ms;
    const ratio = r.byPath[targets.ratioPath].lat.p50Ms / direct;
    const target = r.role === "target";
    summary.push({
      name: `${r.op}: Worker (${targets.ratioPath}) / direct, p50`,
      value: `${fmt(ratio)}× (${fmt(r.byPath[targets.ratioPath].lat.p50Ms)} / ${fmt(direct)} ms)`,
      bound: target ? `≤ ${targets.ratio}×` : "",
      met: target ? ratio <= targets.ratio : null,
    });
    for (const p of PATHS.filter((x) => x !== "direct" && x !== targets.ratioPath)) {
      summary.push({
        name: `${r.op}: Worker (${p}) / direct, p50`,
        value: `${fmt(r.byPath[p].lat.p50Ms / direct)}×`,
        bound: "",
        met: null,
      });
    }
    const errors = PATHS.map((p) => r.byPath[p].load.errors);
    summary.push({
      name: `${r.op}: errors at ${c} clients (${PATHS.join(" / ")})`,
      value: errors.join(" / "),
      bound: "0",
      met: errors.every((e) => e === 0),
    });
  }
  summary.push(...more);
  console.log("\nsummary (targets checked against the reference measured in this run):");
  for (const l of table([
    ["", "measured", "bound", "verdict"],
    ...summary.map((s) => [s.name, s.value, s.bound, verdict(s.met)]),
  ]))
    console.log(`  ${l}`);
  for (const r of results) {
    for (const p of PATHS) {
      const m = r.byPath[p];
      for (const s of new Set([...m.lat.errorSamples, ...m.load.errorSamples])) console.log(`  ${r.op} via ${p}: ${s}`);
    }
  }
  for (const n of notes) console.log(`note: ${n}`);
}
