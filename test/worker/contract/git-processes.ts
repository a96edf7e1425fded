/**
 * @module test/worker/contract/git-processes
 * Contract: git clone of a real repository served over dumb HTTP from 127.0.0.1
 * (see test/support/global-setup.ts), and background processes (lifecycle, logs,
 * follow, kill, kill-all).
 */
import { expect, inject, it } from "vitest";
import {
  type ContractContext,
  collect,
  expectAppError,
  expectWellFormed,
  output,
  readText,
  utf8,
  waitFor,
} from "./helpers";

/** Registers the clone tests (inside the suite's describe). */
export function defineCloneContract(ctx: ContractContext): void {
  it("clone checks out the default branch and reports its commit", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const r = await b.clone(p, { repoUrl: inject("gitRepoUrl"), directory: "/workspace/repo", timeoutMs: 30_000 });
    expect(r).toEqual({ directory: "/workspace/repo", commit: inject("gitMainCommit"), branch: "main" });
    expect(await readText(b, p, "/workspace/repo/README.md")).toBe("hello from the test repo\n");
    const log = await b.exec(p, { command: "git log -1 --format=%H", cwd: "/workspace/repo", timeoutMs: 10_000 });
    expect(log.stdout.trim()).toBe(inject("gitMainCommit"));
  });

  it("clone honours branch", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const r = await b.clone(p, {
      repoUrl: inject("gitRepoUrl"),
      directory: "/workspace/feat",
      branch: "feature",
      timeoutMs: 30_000,
    });
    expect(r).toEqual({ directory: "/workspace/feat", commit: inject("gitFeatureCommit"), branch: "feature" });
    expect(await readText(b, p, "/workspace/feat/feature.txt")).toBe("feature branch\n");
  });

  it("clone into a non-empty directory is a CONFLICT and leaves it alone", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await b.writeFile(p, "/workspace/taken/keep.txt", utf8("mine"));
    await expectAppError(
      b.clone(p, { repoUrl: inject("gitRepoUrl"), directory: "/workspace/taken", timeoutMs: 30_000 }),
      "CONFLICT",
    );
    expect(await readText(b, p, "/workspace/taken/keep.txt")).toBe("mine");
  });

  it("a failed clone never reveals credentials from the URL", async () => {
    const secret = "s3cr3t-pa55word";
    const url = new URL(inject("gitRepoUrl"));
    url.username = "deploy-user";
    url.password = secret;
    url.pathname = "/missing.git";
    let caught: unknown;
    try {
      await ctx
        .backend()
        .clone(ctx.project(), { repoUrl: url.toString(), directory: "/workspace/x", timeoutMs: 30_000 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    const text = `${(caught as Error).message} ${JSON.stringify(caught)}`;
    expect(text).not.toContain(secret);
  });
}

/** Registers the process tests (inside the suite's describe). */
export function defineProcessContract(ctx: ContractContext): void {
  const finished = async (id: string) => {
    const info = await ctx.backend().getProcess(ctx.project(), id);
    return info.status === "running" ? undefined : info;
  };

  it("a process runs in the background; get, list, follow and logs see it through to completion", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const command = "echo ready; sleep 0.5; echo warn >&2; echo done";
    const started = await b.startProcess(p, { command });
    expect(started).toMatchObject({ command, status: "running", exitCode: null, endedAt: null });
    expect(typeof started.id).toBe("string");
    expect(Number.isNaN(Date.parse(started.startedAt))).toBe(false);
    expect((await b.getProcess(p, started.id)).id).toBe(started.id);
    expect((await b.listProcesses(p)).map((x) => x.id)).toContain(started.id);
    const events = await collect(await b.followProcess(p, started.id));
    expect(expectWellFormed(events)).toMatchObject({ type: "exit", exitCode: 0 });
    expect(output(events, "stdout")).toBe("ready\ndone\n");
    expect(output(events, "stderr")).toBe("warn\n");
    const done = await waitFor(() => finished(started.id));
    expect(done).toMatchObject({ id: started.id, status: "completed", exitCode: 0 });
    expect(done.endedAt).not.toBeNull();
    expect(await b.processLogs(p, started.id)).toEqual({ stdout: "ready\ndone\n", stderr: "warn\n" });
  });

  it("a process that exits non-zero is failed; follow after the end replays its output", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const proc = await b.startProcess(p, { command: "echo partial; exit 4", cwd: "/workspace", env: { A: "1" } });
    expect(await waitFor(() => finished(proc.id))).toMatchObject({ status: "failed", exitCode: 4 });
    const events = await collect(await b.followProcess(p, proc.id));
    expect(expectWellFormed(events)).toMatchObject({ type: "exit", exitCode: 4 });
    expect(output(events, "stdout")).toBe("partial\n");
  });

  it("killProcess stops a running process and marks it killed", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const proc = await b.startProcess(p, { command: "sleep 30" });
    const killed = await b.killProcess(p, proc.id);
    expect(killed.id).toBe(proc.id);
    expect(await waitFor(() => finished(proc.id))).toMatchObject({ status: "killed" });
    await expectAppError(b.getProcess(p, "p_0000000000000000"), "PROCESS_NOT_FOUND");
  });

  it("killAllProcesses kills every running process and says how many", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const one = await b.startProcess(p, { command: "sleep 30" });
    const two = await b.startProcess(p, { command: "sleep 31" });
    expect(await b.killAllProcesses(p)).toBe(2);
    for (const id of [one.id, two.id]) expect((await waitFor(() => finished(id))).status).toBe("killed");
    expect(await b.killAllProcesses(p)).toBe(0);
    expect((await b.exec(p, { command: "echo still usable", timeoutMs: 10_000 })).stdout).toBe("still usable\n");
  });
}
