/**
 * @module runner/job-prepare
 * A job's workspace before its agent runs. Every attempt starts from the head:
 * whatever a dead attempt left running is killed (leftovers.ts), then the tree is
 * made equal to the head — cloned on the project's first job when the job names a
 * repo, else restored (with install). On a project's first job the starting tree
 * is committed as the head ("baseline"), so a retry restores that start instead
 * of building on a dead agent's leftovers. Returns the "before" tree the diff
 * compares with and the head as this job knows it (each fetched once).
 */
import { mkdir } from "node:fs/promises";
import type { Job, NewJobEvent } from "../../src/shared/job-format.ts";
import type { Manifest, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { takeSnapshot } from "./archiver.ts";
import { type ReadBefore, type Tree, treeFromManifest, treeFromScan } from "./changes.ts";
import type { RunnerConfig } from "./config.ts";
import { loadIgnoreRules } from "./ignore.ts";
import { installAfterRestore } from "./install.ts";
import type { PhaseRunner } from "./job-report.ts";
import { cloneRepo, type GitRemote, gitReader, storeReader } from "./job-workspace.ts";
import { killLeftoverAgents } from "./leftovers.ts";
import { restoreSnapshot } from "./restorer.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";

/**
 * The head and its manifest as this job last saw them: the snapshots take it as
 * their parent (a head moved meanwhile is caught by the commit, which rebases).
 */
export type KnownHead = { head: SnapshotId | null; manifest: Manifest | null };

/** What the rest of the job needs of the prepared workspace. */
export interface PreparedWorkspace {
  before: Tree;
  readBefore: ReadBefore;
  known: KnownHead;
}

/** Inputs of prepareWorkspace. */
export interface PrepareContext {
  job: Job;
  store: SnapshotStore;
  config: Pick<RunnerConfig, "workspace" | "stateDir" | "ignoreGit" | "install">;
  phase: PhaseRunner;
  emit: (e: NewJobEvent) => void;
  log: (message: string) => void;
  /** Aborts a clone (cancel, lease lost). */
  signal: AbortSignal;
  /** Whether the lease is lost by now (then no baseline is committed). */
  leaseLost: () => boolean;
  /** How git reaches the job's repository (JobClient.gitRemote), asked right before a clone. */
  gitRemote?: (repoUrl: string) => Promise<GitRemote>;
}

/** Makes the workspace equal the head (or the job's clone) and commits a first job's baseline. */
export async function prepareWorkspace(ctx: PrepareContext): Promise<PreparedWorkspace> {
  const { job, store, config, log } = ctx;
  const workspace = config.workspace;
  await mkdir(workspace, { recursive: true });
  await killLeftoverAgents(workspace, log);
  const head = await store.getHead();
  const prepared = !head && job.repo ? await clone(ctx, job.repo) : await restore(ctx, head);
  if (!head && !ctx.leaseLost()) {
    // The project's first job: its start becomes the head, so a retry restores it.
    const rules = await loadIgnoreRules(workspace, rulesOptions(config));
    const baseline = await ctx.phase("baseline", () =>
      takeSnapshot({
        store,
        workspace,
        stateDir: config.stateDir,
        projectId: job.projectId,
        rules,
        parent: prepared.known,
        log,
      }),
    );
    prepared.known = { head: baseline.snapshotId, manifest: baseline.manifest };
  }
  return prepared;
}

/** Ignore-rule options of a job (no extra patterns). */
export function rulesOptions(config: Pick<RunnerConfig, "ignoreGit">): { ignoreGit: boolean; extra: string[] } {
  return { ignoreGit: config.ignoreGit, extra: [] };
}

/** The project's first job with a repo: clone it; "before" is the cloned commit. */
async function clone(ctx: PrepareContext, repo: NonNullable<Job["repo"]>): Promise<PreparedWorkspace> {
  const workspace = ctx.config.workspace;
  const commit = await ctx.phase("clone", async () => {
    // Asked for before the agent exists, held only for the clone's git process.
    const remote = await ctx.gitRemote?.(repo.url);
    return cloneRepo(repo, workspace, { signal: ctx.signal, log: ctx.log, ...(remote ? { remote } : {}) });
  });
  return {
    before: await treeFromScan(workspace, await loadIgnoreRules(workspace, rulesOptions(ctx.config))),
    readBefore: gitReader(workspace, commit),
    known: { head: null, manifest: null },
  };
}

/** Restores `head` (none: the workspace stays as it is), then installs; "before" is the head's tree. */
async function restore(ctx: PrepareContext, head: SnapshotId | null): Promise<PreparedWorkspace> {
  const { store, config, log } = ctx;
  const workspace = config.workspace;
  const restored = await ctx.phase("restore", async () => {
    const rules = await loadIgnoreRules(workspace, rulesOptions(config));
    const r = await restoreSnapshot({
      store,
      workspace,
      stateDir: config.stateDir,
      rules,
      snapshotId: head,
      noHead: head === null,
      log,
    });
    const install = config.install ? await installAfterRestore(workspace, r.changedPaths, log) : null;
    if (install && install.exitCode !== 0) {
      ctx.emit({ type: "log", data: { stream: "runner", line: `${install.command} exited with ${install.exitCode}` } });
    }
    return r;
  });
  if (!head) {
    return {
      before: await treeFromScan(workspace, await loadIgnoreRules(workspace, rulesOptions(config))),
      readBefore: async () => null,
      known: { head: null, manifest: null },
    };
  }
  const manifest = restored.manifest ?? (await loadManifest(store, head));
  return { before: treeFromManifest(manifest), readBefore: storeReader(store, manifest), known: { head, manifest } };
}
