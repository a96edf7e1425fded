/**
 * @module bench/snapshot-disk
 * The snapshot engine on equal terms with restic (issue 14, point 7), a part of
 * bench/snapshot.ts. The Worker rows there are bounded by Miniflare's R2 simulator
 * (bench/r2-floor.ts); here the same runner code (cli.ts → archiver) runs against a
 * store on the local disk (bench/disk-store.ts: the runner's own SnapshotStore, no
 * Worker, no HTTP), beside `restic backup` to a local repository with
 * `--compression off` (like for like: the runner does not compress) and with restic's
 * default (`auto`).
 *
 * Per round, from nothing (new store, new runner state, new restic repositories): the
 * first snapshot beside both restic first backups, then the no-change snapshot beside
 * both re-backups, the three in an order that rotates each round. Then Node's share of
 * a no-change snapshot: `node -e 0` (Node's start) and `node disk-runner.mjs --version`
 * (start + loading the bundle), STARTUP_RUNS each, medians.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { SCRATCH_DIR } from "../container/runner/state.ts";
import { buildRunner } from "../scripts/build-runner.ts";
import { REPO_ROOT } from "../scripts/lib/services.ts";
import type { Timed } from "./snapshot-proc.ts";
import type { Row, Samples, Target } from "./snapshot-report.ts";

/** Runs of each start-up probe. */
const STARTUP_RUNS = 5;
/** The two restic settings compared. */
const RESTIC_MODES = ["off", "auto"] as const;
type ResticMode = (typeof RESTIC_MODES)[number];

/** What bench/snapshot.ts lends this part: its timed runner and its sample table. */
export interface DiskBenchContext {
  root: string;
  tree: string;
  rounds: number;
  restic: boolean;
  samples: Samples;
  /** Runs a command to success, timed (bench/snapshot.ts' `measure`). */
  measure: (tool: Row["tool"], name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) => Promise<Timed>;
  /** node arguments for a step (BENCH_CPU_PROF: --cpu-prof …). */
  nodeArgs: (step: string, round: number) => string[];
}

/** What this part measured, for the targets and notes. */
export interface DiskBenchResult {
  /** Per round, runner / restic wall time, by step and restic mode. */
  ratios: Record<"first" | "same", Record<ResticMode, number[]>>;
  /** Medians in ms. */
  nodeStartMs: number;
  bundleLoadMs: number;
  /** The no-change snapshot: median wall and the runner's own durationMs. */
  sameWallMs: number;
  sameInnerMs: number;
  /** Median over the rounds of wall − durationMs: the process around the runner's own work. */
  sameOutsideMs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

/** Measures the disk-store runner beside restic (skipping restic's columns when it is missing). */
export async function measureDiskEngine(ctx: DiskBenchContext): Promise<DiskBenchResult> {
  const { root, tree, samples } = ctx;
  const bundle = join(root, "disk-runner.mjs");
  await buildRunner(bundle, join(REPO_ROOT, "bench", "disk-runner.ts"));
  const ratios: DiskBenchResult["ratios"] = { first: { off: [], auto: [] }, same: { off: [], auto: [] } };
  const same: { wall: number[]; inner: number[] } = { wall: [], inner: [] };

  for (let round = 0; round < ctx.rounds; round++) {
    console.log(`bench: disk store, round ${round + 1} of ${ctx.rounds}`);
    const store = join(root, `disk-store-${round}`);
    await mkdir(store);
    const runnerEnv = {
      ...process.env,
      BENCH_DISK_STORE: store,
      // Required by the runner's config; the disk store never reads them.
      SANDBOX_RUNNER_API: "http://unused.invalid",
      SANDBOX_RUNNER_TOKEN: "unused",
      SANDBOX_PROJECT_ID: "bench-disk",
      SANDBOX_WORKSPACE: tree,
      SANDBOX_STATE_DIR: join(root, `disk-state-${round}`),
      SANDBOX_RESTORE_INSTALL: "0",
    };
    const runner = async (step: string): Promise<Row> => {
      const name = `disk store: ${step}`;
      const args = [...ctx.nodeArgs(`disk-${step}`, round), bundle, "snapshot", "--json"];
      const r = await ctx.measure("runner", name, process.execPath, args, runnerEnv);
      const json = JSON.parse(r.stdout.trim().split("\n").pop() ?? "") as {
        ok: boolean;
        durationMs?: number;
        uploadedBytes?: number;
        unchanged?: boolean;
      };
      if (!json.ok) throw new Error(`disk runner ${step}: ${r.stdout}`);
      if (step.includes("no change") && json.unchanged !== true) console.warn(`bench: ${name} was not unchanged`);
      return samples.add({
        tool: "runner",
        step: name,
        ms: r.ms,
        peakRss: r.peakRss,
        ...(json.durationMs === undefined ? {} : { innerMs: json.durationMs }),
        ...(json.uploadedBytes === undefined ? {} : { bytesUp: json.uploadedBytes }),
      });
    };
    const resticEnv = (mode: ResticMode): NodeJS.ProcessEnv => ({
      ...process.env,
      RESTIC_REPOSITORY: join(root, `disk-restic-${mode}-${round}`),
      RESTIC_PASSWORD: "bench",
      RESTIC_CACHE_DIR: join(root, `disk-restic-cache-${mode}-${round}`),
    });
    const resticBackup = async (mode: ResticMode, step: string): Promise<Row> => {
      const name = `local repo, compression ${mode}: ${step}`;
      const args = ["--compression", mode, "backup", "--quiet", "--exclude", join(tree, SCRATCH_DIR), tree];
      const r = await ctx.measure("restic", name, "restic", args, resticEnv(mode));
      return samples.add({ tool: "restic", step: name, ms: r.ms, peakRss: r.peakRss });
    };
    if (ctx.restic) {
      for (const mode of RESTIC_MODES)
        await ctx.measure("restic", "init", "restic", ["init", "--quiet"], resticEnv(mode));
    }

    // The three contenders of a step in an order that rotates each round.
    const contest = async (key: "first" | "same", step: string): Promise<Row> => {
      const entrants: Array<() => Promise<void>> = [];
      let mine: Row | undefined;
      const refs: Partial<Record<ResticMode, Row>> = {};
      entrants.push(async () => {
        mine = await runner(step);
      });
      if (ctx.restic) {
        for (const mode of RESTIC_MODES) {
          entrants.push(async () => {
            refs[mode] = await resticBackup(mode, step.replace("snapshot", "backup"));
          });
        }
      }
      for (let i = 0; i < entrants.length; i++)
        await (entrants[(i + round) % entrants.length] as () => Promise<void>)();
      const row = mine as Row;
      for (const mode of RESTIC_MODES) {
        const ref = refs[mode];
        if (ref) ratios[key][mode].push(row.ms / ref.ms);
      }
      return row;
    };
    await contest("first", "snapshot (first)");
    const row = await contest("same", "snapshot (no change)");
    same.wall.push(row.ms);
    if (row.innerMs !== undefined) same.inner.push(row.innerMs);
  }

  // Node's share: the same child-process path as every measured step.
  const probe = async (name: string, args: string[]): Promise<number> => {
    const ms: number[] = [];
    for (let i = 0; i < STARTUP_RUNS; i++) {
      const r = await ctx.measure("runner", name, process.execPath, args);
      samples.add({ tool: "runner", step: name, ms: r.ms, peakRss: r.peakRss });
      ms.push(r.ms);
    }
    return median(ms);
  };
  const nodeStartMs = await probe("node -e 0 (Node's start)", ["-e", "0"]);
  const withBundle = await probe("node disk-runner.mjs --version", [bundle, "--version"]);
  return {
    ratios,
    nodeStartMs,
    bundleLoadMs: withBundle - nodeStartMs,
    sameWallMs: median(same.wall),
    sameInnerMs: median(same.inner),
    sameOutsideMs: median(same.wall.map((w, i) => w - (same.inner[i] ?? Number.NaN))),
  };
}

/** The two targets for the disk store, against each restic setting. */
export function diskTargets(r: DiskBenchResult): Target[] {
  const ratio = (xs: number[], bound: number, name: string): Target => {
    if (xs.length === 0) return { name, value: "n/a", bound: `≤ ${bound}×`, met: null };
    const m = median(xs);
    const each = xs.length > 1 ? ` (${xs.map((x) => x.toFixed(2)).join(", ")})` : "";
    return { name, value: `${m.toFixed(2)}×${each}`, bound: `≤ ${bound}×`, met: m <= bound };
  };
  return RESTIC_MODES.flatMap((mode) => [
    ratio(r.ratios.first[mode], 1.0, `disk store: first snapshot / restic backup (compression ${mode})`),
    ratio(r.ratios.same[mode], 0.3, `disk store: no-change snapshot / restic re-backup (compression ${mode})`),
  ]);
}

/** The note on Node's share of the no-change snapshot. */
export function diskNotes(r: DiskBenchResult): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  const pct = (ms: number) => `${((100 * ms) / r.sameWallMs).toFixed(0)}%`;
  return [
    "disk store: the runner's CLI and archiver bundled around bench/disk-store.ts (a SnapshotStore in a local " +
      "directory: temp file, fsync, rename, as restic's local backend), no Worker; restic to a local repository in " +
      "the same temp dir, with --compression off and with its default (auto).",
    `disk store, no-change snapshot ${s(r.sameWallMs)} (median wall; the runner's own durationMs ${s(r.sameInnerMs)}): ` +
      `outside durationMs ${s(r.sameOutsideMs)} (${pct(r.sameOutsideMs)}; median of wall − durationMs per round), of ` +
      `which Node's start (node -e 0) ${s(r.nodeStartMs)} (${pct(r.nodeStartMs)}) and loading the bundle ` +
      `${s(r.bundleLoadMs)} (${pct(r.bundleLoadMs)}) measured apart; the rest is the CLI's set-up (config, ignore ` +
      "rules) and the exit.",
  ];
}
