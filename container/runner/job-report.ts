/**
 * @module runner/job-report
 * What run-job tells the Worker and its caller: phase events with their timings
 * (a phase's `ok` says whether it, for the agent whether the agent, succeeded),
 * the result post, and the object `run-job --json` prints last.
 */
import type { JobResult, NewJobEvent } from "../../src/shared/job-format.ts";
import { toRunnerError } from "./errors.ts";
import type { JobClient } from "./job-client.ts";

/** What `run-job --json` prints as its last stdout line. */
export type RunJobOutput =
  | {
      ok: true;
      command: "run-job";
      jobId: string;
      status: JobResult["status"];
      exitCode: number | null;
      snapshotId: string | null;
      error: JobResult["error"];
      durationMs: number;
    }
  | { ok: false; command: "run-job"; jobId: string | null; code: string; error: string; reported: boolean };

/** runJob's answer: the process exit code and the output object. */
export interface RunJobExit {
  exitCode: number;
  output: RunJobOutput;
}

/** Exit 1 with a failure output; `reported` says whether the Worker got a failed result. */
export function failedExit(jobId: string | null, code: string, error: string, reported: boolean): RunJobExit {
  return { exitCode: 1, output: { ok: false, command: "run-job", jobId, code, error, reported } };
}

/** Exit 0 after a result was reported (also for failed and cancelled jobs). */
export function reportedExit(jobId: string, result: JobResult, started: number): RunJobExit {
  const { status, exitCode, snapshotId, error } = result;
  const output: RunJobOutput = {
    ok: true,
    command: "run-job",
    jobId,
    status,
    exitCode,
    snapshotId,
    error,
    durationMs: Date.now() - started,
  };
  return { exitCode: 0, output };
}

/** Runs `fn` as phase `name`; `verdict` judges a result that is not a plain success (the agent's). */
export type PhaseRunner = <T>(
  name: string,
  fn: () => Promise<T>,
  verdict?: (r: T) => { ok: boolean; code?: string },
) => Promise<T>;

/** A PhaseRunner emitting start and end events and recording each phase's duration in `timings`. */
export function phaseRunner(emit: (e: NewJobEvent) => void, timings: Record<string, number>): PhaseRunner {
  return async (name, fn, verdict = () => ({ ok: true })) => {
    emit({ type: "phase", data: { name, state: "start" } });
    const t0 = Date.now();
    try {
      const r = await fn();
      timings[name] = Date.now() - t0;
      emit({ type: "phase", data: { name, state: "end", ...verdict(r), durationMs: timings[name] } });
      return r;
    } catch (err) {
      timings[name] = Date.now() - t0;
      const e = toRunnerError(err);
      emit({ type: "phase", data: { name, state: "end", ok: false, durationMs: timings[name], code: e.code } });
      throw err;
    }
  };
}

/** Posts a failed job's result; resolves whether the Worker took it (a failure to report is logged). */
export async function postFailure(client: JobClient, result: JobResult, log: (m: string) => void): Promise<boolean> {
  return client.postResult(result).then(
    () => true,
    (postErr: unknown) => {
      log(`could not report the failure: ${toRunnerError(postErr).message}`);
      return false;
    },
  );
}
