/**
 * run-job's pure rules (container/runner/job-decisions.ts), table-driven like the
 * queue's (test/worker/jobs-decisions.test.ts): how a job ends given its agent's
 * outcome and why it was stopped, the result of a finished and of a broken job,
 * and which errors mean the runner no longer owns its job. No I/O.
 */
import { describe, expect, it } from "vitest";
import { type AbortReason, type AgentOutcome, zeroUsage } from "../../../container/runner/agents/types.ts";
import { RunnerError } from "../../../container/runner/errors.ts";
import {
  decideResult,
  FAILURE_MESSAGE_MAX_CHARS,
  failureResult,
  heartbeatEndsAttempt,
  JOB_CODES,
  type JobRun,
  tokenDead,
} from "../../../container/runner/job-decisions.ts";
import { CHANGED_FILES_MAX_PATHS } from "../../../src/shared/job-format.ts";

const usage = { ...zeroUsage(), inputTokens: 7, costUsd: 0.5 };
const outcome = (over: Partial<AgentOutcome> = {}): AgentOutcome => ({
  exitCode: 0,
  summary: "did it",
  usage,
  ...over,
});
const run = (over: Partial<JobRun> = {}): JobRun => ({
  outcome: outcome(),
  abortReason: null,
  job: { timeoutSeconds: 60 },
  snapshotId: "s1",
  changes: { added: ["a"], modified: [], deleted: ["d"] },
  diff: { diff: "+a\n", truncated: false },
  timings: { agent: 5 },
  ...over,
});

describe("decideResult", () => {
  const budget = { code: "BUDGET_EXCEEDED", message: "over budget" };
  const cases: Array<[string, AgentOutcome, AbortReason | null, string, string | null]> = [
    ["exit 0", outcome(), null, "succeeded", null],
    ["non-zero exit", outcome({ exitCode: 3 }), null, "failed", JOB_CODES.agentFailed],
    ["no exit code and no error", outcome({ exitCode: null }), null, "failed", JOB_CODES.agentFailed],
    ["the agent's own error beats its exit 0", outcome({ error: budget }), null, "failed", "BUDGET_EXCEEDED"],
    ["timeout beats the agent's exit 0", outcome(), "timeout", "failed", JOB_CODES.timeout],
    ["timeout beats the agent's own error", outcome({ error: budget }), "timeout", "failed", JOB_CODES.timeout],
    ["cancel", outcome({ exitCode: null }), "cancel", "cancelled", JOB_CODES.cancelled],
    ["cancel beats the agent's own error", outcome({ error: budget }), "cancel", "cancelled", JOB_CODES.cancelled],
    ["lease lost", outcome(), "lease-lost", "failed", JOB_CODES.leaseLost],
  ];
  it.each(cases)("%s", (_name, o, abortReason, status, code) => {
    const r = decideResult(run({ outcome: o, abortReason }));
    expect(r.status).toBe(status);
    expect(r.error?.code ?? null).toBe(code);
    if (r.error) expect(r.error.message).toMatch(/\S/);
  });

  it("names the job's timeout in the timeout message", () => {
    const r = decideResult(run({ abortReason: "timeout", job: { timeoutSeconds: 42 } }));
    expect(r.error?.message).toContain("42 s");
  });

  it("carries the agent's outcome, the snapshot, the diff and the timings", () => {
    const r = decideResult(run());
    expect(r).toMatchObject({
      exitCode: 0,
      summary: "did it",
      usage,
      snapshotId: "s1",
      diff: "+a\n",
      diffTruncated: false,
      timings: { agent: 5 },
    });
    expect(r.changedFiles).toMatchObject({ added: ["a"], deleted: ["d"], truncated: false });
  });

  it("caps the listed paths but keeps the counts", () => {
    const n = CHANGED_FILES_MAX_PATHS + 1;
    const added = Array.from({ length: n }, (_, i) => `f${i}`);
    const r = decideResult(run({ changes: { added, modified: [], deleted: [] } }));
    expect(r.changedFiles.added).toHaveLength(CHANGED_FILES_MAX_PATHS);
    expect(r.changedFiles).toMatchObject({ counts: { added: n }, truncated: true });
  });
});

describe("failureResult", () => {
  const got = { outcome: null, snapshotId: null, timings: { total: 9 } };
  it("fails with the error's code and message as the summary, no changes", () => {
    const r = failureResult({ code: "RESTORE_INCOMPLETE", message: "2 file(s)" }, got);
    expect(r).toEqual({
      status: "failed",
      exitCode: null,
      summary: "2 file(s)",
      changedFiles: { added: [], modified: [], deleted: [] },
      diff: "",
      diffTruncated: false,
      timings: { total: 9 },
      snapshotId: null,
      usage: zeroUsage(),
      error: { code: "RESTORE_INCOMPLETE", message: "2 file(s)" },
    });
  });
  it("keeps what the agent and a snapshot gave before the failure", () => {
    const r = failureResult({ code: "API_ERROR", message: "x" }, { ...got, outcome: outcome(), snapshotId: "s2" });
    expect(r).toMatchObject({ exitCode: 0, usage, snapshotId: "s2" });
  });
  it("cuts a long message in the error (the Worker refuses over 10,000 characters)", () => {
    const r = failureResult({ code: "X", message: "m".repeat(20_000) }, got);
    expect(r.error?.message).toHaveLength(FAILURE_MESSAGE_MAX_CHARS);
    expect(r.summary).toHaveLength(20_000);
  });
});

describe("who owns the job", () => {
  const status = (s: number, code = "API_ERROR") => new RunnerError(code, "no", { details: { status: s } });
  const cases: Array<[string, unknown, boolean, boolean]> = [
    ["LEASE_LOST", status(409, JOB_CODES.leaseLost), true, true],
    ["401: the token died with the lease", status(401), true, true],
    ["409 JOB_FINISHED", status(409, "JOB_FINISHED"), false, true],
    ["503", status(503), false, false],
    ["network error", new RunnerError("NETWORK_ERROR", "down"), false, false],
    ["a plain Error", new Error("x"), false, false],
  ];
  it.each(cases)("%s", (_name, err, dead, ends) => {
    expect(tokenDead(err)).toBe(dead);
    expect(heartbeatEndsAttempt(err)).toBe(ends);
  });
});
