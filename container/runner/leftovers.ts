/**
 * @module runner/leftovers
 * What a dead attempt of a job may have left running: its agent and whatever the
 * agent started (background shells, dev servers), still writing into the workspace
 * the next attempt is about to restore. The Worker kills an earlier `run-job` before
 * it starts the next (src/runner-driver/job.ts), but the agent runs in its own process group
 * (agents/process-group.ts) and outlives a runner that crashed or was SIGKILLed
 * wherever no PID namespace ends with the runner (a container whose runner is not
 * its init, an unisolated local sandbox).
 *
 * So every agent process carries a mark in its environment naming its workspace
 * (children inherit it), and `run-job` SIGKILLs every marked process of its
 * workspace before it restores. The mark names the workspace, not the job: at most
 * one job runs per project, so any agent of this workspace still alive when a job
 * starts belongs to a dead attempt (of this job or an earlier one). Only /proc is
 * read; where there is none, nothing is killed.
 */
import { readdir, readFile } from "node:fs/promises";
import { resolve } from "node:path";

/** The environment variable that marks an agent process (and its children) with its workspace. */
export const AGENT_MARK_ENV = "SANDBOX_JOB_WORKSPACE";

/** The mark for agents working in `workspace`, to merge into their environment. */
export function agentMark(workspace: string): Record<string, string> {
  return { [AGENT_MARK_ENV]: resolve(workspace) };
}

/** Pids (other than this process) whose environment holds `entry` ("NAME=value"). */
async function markedPids(entry: string): Promise<number[]> {
  const names = await readdir("/proc").catch(() => [] as string[]);
  const pids: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    // Other users' processes (EACCES), ones that just exited (ENOENT) and zombies (empty) never match.
    const environ = await readFile(`/proc/${name}/environ`, "latin1").catch(() => "");
    if (environ.split("\0").includes(entry)) pids.push(Number(name));
  }
  return pids;
}

/**
 * SIGKILLs every process marked with `workspace` (see agentMark), rescanning until
 * none is left (a dying parent may have forked meanwhile) or after a few rounds.
 * Resolves with how many processes were killed.
 */
export async function killLeftoverAgents(workspace: string, log: (m: string) => void = () => {}): Promise<number> {
  const entry = `${AGENT_MARK_ENV}=${resolve(workspace)}`;
  const killed = new Set<number>();
  for (let round = 0; round < 5; round++) {
    const pids = await markedPids(entry);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
        killed.add(pid);
      } catch {
        // Gone already.
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (killed.size > 0) log(`killed ${killed.size} process(es) a dead attempt left running: ${[...killed].join(", ")}`);
  return killed.size;
}
