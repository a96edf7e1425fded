/**
 * @module runner/agents/types
 * The agent interface of `runner run-job`: one file per agent (shell.ts here;
 * claude and opencode plug in the same way), registered in index.ts. run-job
 * owns everything around the agent — workspace restore, heartbeats, timeout,
 * cancel, snapshot, diff and the result — so an agent only turns a job into work
 * in the workspace and reports how it went.
 *
 * Contract: `run` must return (not throw) once `signal` aborts, having stopped
 * everything it started (child processes, model streams) — run-job snapshots the
 * workspace right after, so nothing may still be writing to it. A thrown error
 * is reported as AGENT_FAILED.
 */
import type { Job, JobResult, NewJobEvent } from "../../../src/shared/job-format.ts";

/** Token usage and cost, as JobResult reports it (zeros for agents without a model). */
export type AgentUsage = JobResult["usage"];

/** Why run-job aborted the agent (AbortSignal.reason). */
export type AbortReason = "timeout" | "cancel" | "lease-lost";

/** What an agent gets. */
export interface AgentContext {
  job: Job;
  /** Absolute workspace root (the agent's working directory). */
  workspace: string;
  /**
   * Environment for the agent and its processes: the runner's own, minus the
   * runner token; an agent removes further secrets its processes must not see.
   */
  env: NodeJS.ProcessEnv;
  /** Aborts on timeout, cancel or lease loss; `signal.reason` is an AbortReason. */
  signal: AbortSignal;
  /**
   * Emits a job event (batched and posted in order by run-job). Conventions:
   * `log` {stream, line}, `agent_step` {kind, …} for tool calls and turns.
   */
  emit: (event: NewJobEvent) => void;
  /** Human log line to the runner's stderr. */
  log: (message: string) => void;
}

/** What an agent returns. */
export interface AgentOutcome {
  /** Process-style exit code (0 = success); null when there is none. */
  exitCode: number | null;
  /** A short human summary (last output lines, the model's final message…). */
  summary: string;
  usage: AgentUsage;
  /**
   * Set when the agent failed for a reason of its own (BUDGET_EXCEEDED, MODEL_API_ERROR…);
   * without it, a non-zero exitCode is reported as AGENT_FAILED.
   */
  error?: { code: string; message: string };
}

/** One agent. */
export interface Agent {
  name: Job["agent"];
  run(ctx: AgentContext): Promise<AgentOutcome>;
}

/** Usage of an agent that calls no model. */
export function zeroUsage(): AgentUsage {
  return { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 };
}
