/**
 * @module bench/snapshot
 * `npm run bench:snapshot [-- /path/to/repo]`: the snapshot runner against restic
 * and tar on the same tree (issue 3, point 8).
 *
 * Input: a generated repository-like tree (10,000 files, ~100 MB, deterministic;
 * bench/snapshot-tree.ts; BENCH_FILES / BENCH_BYTES change the size), or a copy of
 * what the runner would snapshot of the repository given as the argument (the
 * original is never written to).
 *
 * The runner path is the real one: the bundled runner (dist/runner/runner.mjs, the
 * npm script builds it first) as a child process against the Worker's runner API,
 * the deploy bundle in workerd under Miniflare (bench/workerd.ts) with R2 and D1
 * persisted on disk in a temp dir and the D1 migrations applied by wrangler. The
 * runner token is minted here with the Worker's RUNNER_TOKEN_SECRET.
 *
 * Measured in one run, in this order: tar create/extract, restic init/backup/
 * re-backup/restore (skipped with a hint when restic is missing), then the runner:
 * first snapshot, no-change snapshot, one-file-change snapshot, restore into an
 * empty directory, no-change restore. The page cache cannot be dropped here, so the
 * tree is read once before anything is measured: every tool starts warm.
 * Env: BENCH_CPU_PROF=<dir> writes a --cpu-prof profile of each runner step
 * there; BENCH_KEEP=1 keeps the temp dir.
 */
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, randomToken } from "../scripts/lib/net.ts";
import { signalGroup } from "../scripts/lib/proc.ts";
import { REPO_ROOT } from "../scripts/lib/services.ts";
import { guardRun, runBench } from "./lifecycle.ts";
import { available, expectSuccess, running, type Timed, timed } from "./snapshot-proc.ts";
import { fmtBytes, printSnapshotReport, type Row, type Target } from "./snapshot-report.ts";
import {
  appendLine,
  copyRepo,
  describeTree,
  generateTree,
  pickFileToChange,
  runnerView,
  type TreeStats,
  warmTree,
} from "./snapshot-tree.ts";
import { startMigratedWorkerd, type WorkerdWorker } from "./workerd.ts";

const FILES = Number(process.env.BENCH_FILES ?? "10000");
const BYTES = Number(process.env.BENCH_BYTES ?? String(100 * 1000 * 1000));
/** A real repository larger than this is refused (time and disk bound). */
const REPO_LIMITS = { files: 200_000, bytes: 4 * 1024 ** 3 };
const STEP_TIMEOUT_MS = 10 * 60_000;
const TOTAL_BUDGET_MS = 40 * 60_000;
const RUNNER = join(REPO_ROOT, "dist", "runner", "runner.mjs");
const MiB = 1024 * 1024;

/**
 * A runner token as src/snapshots/tokens.ts mints it (that module imports src/errors
 * without a .ts extension, so Node cannot load it directly):
 * rt1.<base64url(JSON {p, exp})>.<base64url(HMAC-SHA256(secret, "rt1.<payload>"))>.
 */
function mintRunnerToken(secret: string, projectId: string, ttlSeconds: number): string {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const signed = `rt1.${Buffer.from(JSON.stringify({ p: projectId, exp })).toString("base64url")}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`;
}

interface RunnerJson {
  ok: boolean;
  durationMs?: number;
  uploadedBytes?: number;
  downloadedBytes?: number;
  unchanged?: boolean;
  files?: number;
  code?: string;
  error?: string;
}

async function main(): Promise<void> {
  const repoArg = process.argv[2];
  if (!existsSync(RUNNER)) throw new Error(`${RUNNER} is missing: run \`npm run build:runner\` first`);
  const root = await mkdtemp(join(tmpdir(), "sandbox-bench-snap-"));
  let workerd: WorkerdWorker | undefined;
  // One cleanup for the normal end, the signals and the hard stop past the budget.
  const guard = guardRun(TOTAL_BUDGET_MS, async () => {
    for (const pid of running) signalGroup(pid, "SIGKILL");
    await workerd?.stop().catch(() => undefined);
    if (process.env.BENCH_KEEP === "1") console.log(`bench: kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  });

  try {
    const tree = join(root, "tree");
    let stats: TreeStats;
    const t0 = performance.now();
    if (repoArg) {
      console.log(`bench: copying what the runner would snapshot of ${resolve(repoArg)} …`);
      stats = await copyRepo(resolve(repoArg), tree, REPO_LIMITS);
    } else {
      console.log(`bench: generating ${FILES} files / ~${(BYTES / 1e6).toFixed(0)} MB …`);
      stats = await generateTree(tree, FILES, BYTES);
    }
    console.log(
      `bench: tree ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${stats.files} files, ` +
        `${stats.dirs} dirs, ${stats.symlinks} symlinks, ${fmtBytes(stats.bytes)}`,
    );

    // The Worker: deploy bundle in workerd, R2/D1 on disk, D1 migrated by wrangler.
    console.log("bench: applying D1 migrations and starting the Worker in workerd …");
    const secret = randomToken();
    workerd = await startMigratedWorkerd(root, {
      port: await freePort(),
      vars: {
        SANDBOX_BACKEND: "local",
        API_TOKEN: randomToken(),
        RUNNER_TOKEN_SECRET: secret,
      },
    });
    const projectId = `bench-${randomBytes(4).toString("hex")}`;
    const token = mintRunnerToken(secret, projectId, 3600);
    const restic = await available("restic", ["version"]);
    if (!restic) {
      console.log(
        "bench: restic is not installed: the restic columns are skipped (install: apt-get install -y restic)",
      );
    }

    console.log("bench: warming the page cache (reading the tree once) …");
    await warmTree(tree);

    const rows: Row[] = [];
    const rssFile = join(root, "rss.txt");
    const step = async (tool: Row["tool"], name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
      const r = expectSuccess(await timed(cmd, args, { env, timeoutMs: STEP_TIMEOUT_MS, rssFile }), `${tool} ${name}`);
      console.log(`bench: ${tool} ${name}: ${(r.ms / 1000).toFixed(3)} s`);
      return r;
    };

    // tar: the whole tree uncompressed (the runner's state dir excluded: it is not there yet).
    const tarFile = join(root, "tree.tar");
    const tarOut = join(root, "tar-out");
    await mkdir(tarOut);
    const tc = await step("tar", "create", "tar", ["-C", tree, "-cf", tarFile, "."]);
    rows.push({ tool: "tar", step: "create", ms: tc.ms, peakRss: tc.peakRss });
    const tx = await step("tar", "extract (empty dir)", "tar", ["-C", tarOut, "-xf", tarFile]);
    rows.push({ tool: "tar", step: "extract (empty dir)", ms: tx.ms, peakRss: tx.peakRss });
    await rm(tarFile, { force: true });
    await rm(tarOut, { recursive: true, force: true });

    // restic: a local repository; re-backup finds its parent by host and path.
    let resticBackup: Timed | undefined;
    let resticRe: Timed | undefined;
    if (restic) {
      const env = {
        ...process.env,
        RESTIC_REPOSITORY: join(root, "restic-repo"),
        RESTIC_PASSWORD: "bench",
        RESTIC_CACHE_DIR: join(root, "restic-cache"),
      };
      await step("restic", "init", "restic", ["init", "--quiet"], env);
      const backup = ["backup", "--quiet", "--exclude", join(tree, ".sandbox-worker"), tree];
      resticBackup = await step("restic", "backup (first)", "restic", backup, env);
      rows.push({ tool: "restic", step: "backup (first)", ms: resticBackup.ms, peakRss: resticBackup.peakRss });
      resticRe = await step("restic", "backup (no change)", "restic", backup, env);
      rows.push({ tool: "restic", step: "backup (no change)", ms: resticRe.ms, peakRss: resticRe.peakRss });
      const out = join(root, "restic-out");
      await mkdir(out);
      const rr = await step("restic", "restore (empty dir)", "restic", ["restore", "latest", "--target", out], env);
      rows.push({ tool: "restic", step: "restore (empty dir)", ms: rr.ms, peakRss: rr.peakRss });
      await rm(out, { recursive: true, force: true });
    }

    // The runner, as the Worker runs it: `node runner.mjs <command> --json` with the env contract.
    const profDir = resolve(process.env.BENCH_CPU_PROF ?? ".");
    const prof = Boolean(process.env.BENCH_CPU_PROF);
    if (prof) await mkdir(profDir, { recursive: true });
    const runner = async (name: string, workspace: string, args: string[]) => {
      const nodeArgs = prof
        ? ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-name", `${name.replace(/\W+/g, "-")}.cpuprofile`]
        : [];
      const env = {
        ...process.env,
        SANDBOX_RUNNER_API: workerd?.url,
        SANDBOX_RUNNER_TOKEN: token,
        SANDBOX_PROJECT_ID: projectId,
        SANDBOX_WORKSPACE: workspace,
        SANDBOX_RESTORE_INSTALL: "0",
      };
      const r = await step("runner", name, process.execPath, [...nodeArgs, RUNNER, ...args, "--json"], env);
      const last = r.stdout.trim().split("\n").pop() ?? "";
      const json = JSON.parse(last) as RunnerJson;
      if (!json.ok) throw new Error(`runner ${name}: ${json.code}: ${json.error}`);
      const row: Row = { tool: "runner", step: name, ms: r.ms, peakRss: r.peakRss };
      if (json.durationMs !== undefined) row.innerMs = json.durationMs;
      if (json.uploadedBytes !== undefined) row.bytesUp = json.uploadedBytes;
      if (json.downloadedBytes !== undefined) row.bytesDown = json.downloadedBytes;
      rows.push(row);
      return { row, json };
    };
    const first = await runner("snapshot (first)", tree, ["snapshot"]);
    const same = await runner("snapshot (no change)", tree, ["snapshot"]);
    if (!same.json.unchanged) console.warn("bench: the no-change snapshot was not reported unchanged");
    const changed = pickFileToChange(await runnerView(tree));
    await appendLine(join(tree, changed));
    const one = await runner("snapshot (one file changed)", tree, ["snapshot"]);
    const restoreDir = join(root, "restore");
    await mkdir(restoreDir);
    const rest = await runner("restore (empty dir)", restoreDir, ["restore"]);
    const again = await runner("restore (no change)", restoreDir, ["restore"]);
    const [a, b] = await Promise.all([describeTree(tree), describeTree(restoreDir)]);
    const identical = a.length === b.length && a.every((l, i) => l === b[i]);

    const byStep = (tool: Row["tool"], s: string) => rows.find((r) => r.tool === tool && r.step === s);
    const ratio = (x: Row | undefined, y: Row | undefined, bound: number, name: string): Target => {
      if (!x || !y) return { name, value: "n/a", bound: `≤ ${bound}×`, met: null };
      const v = x.ms / y.ms;
      return { name, value: `${v.toFixed(2)}×`, bound: `≤ ${bound}×`, met: v <= bound };
    };
    const peak = Math.max(...rows.filter((r) => r.tool === "runner").map((r) => r.peakRss ?? Number.NaN));
    const targets: Target[] = [
      ratio(first.row, byStep("restic", "backup (first)"), 1.0, "first snapshot / restic backup"),
      ratio(same.row, byStep("restic", "backup (no change)"), 0.3, "no-change snapshot / restic re-backup"),
      {
        name: "no-change snapshot time",
        value: `${(same.row.ms / 1000).toFixed(3)} s`,
        bound: "< 0.5 s",
        met: same.row.ms < 500,
      },
      {
        name: "one-file change uploads",
        value: fmtBytes(one.json.uploadedBytes ?? 0),
        bound: "< 1 MiB",
        met: (one.json.uploadedBytes ?? 0) < MiB,
      },
      ratio(rest.row, byStep("tar", "extract (empty dir)"), 1.5, "restore (empty dir) / tar extract"),
      {
        name: "no-change restore downloads",
        value: fmtBytes(again.json.downloadedBytes ?? 0),
        bound: "0 B",
        met: again.json.downloadedBytes === 0,
      },
      {
        name: "runner peak RSS (all steps)",
        value: Number.isFinite(peak) ? `${(peak / MiB).toFixed(1)} MiB` : "n/a",
        bound: "≤ 200 MiB",
        met: Number.isFinite(peak) ? peak <= 200 * MiB : null,
      },
    ];
    const notes = [
      "page cache: not dropped (not possible here); the tree was read once before measuring, so every tool ran warm.",
      `runner: ${RUNNER} as a child process (wall time includes Node start-up; "runner s" is its own durationMs) ` +
        `against the Worker in workerd (Miniflare, R2/D1 on disk in the temp dir) at ${workerd.url}.`,
      `one-file change: appended a line to ${JSON.stringify(changed)}.`,
      `restore verified: the restored tree ${identical ? "equals" : "DIFFERS from"} the source tree (paths, sizes, modes); ` +
        `the runner itself checks every file's SHA-256.`,
      restic
        ? "restic: local repository in the temp dir, default settings (repository v2, compression auto), cache in the temp dir."
        : "restic: not installed, its columns are missing (apt-get install -y restic).",
      `machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? "?"}, Node ${process.version}.`,
    ];
    if (prof) notes.push(`CPU profiles of each runner step in ${profDir}.`);
    const title =
      `bench:snapshot — ${repoArg ? `repository ${resolve(repoArg)}` : "generated tree"}: ` +
      `${stats.files} files, ${fmtBytes(stats.bytes)}`;
    printSnapshotReport(title, rows, targets, notes);
    if (prof) console.log(`bench: profiles: ${(await readdir(profDir)).join(", ")}`);
  } finally {
    await guard.finish();
  }
}

runBench(main);
