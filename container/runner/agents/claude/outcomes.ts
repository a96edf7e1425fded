/**
 * @module runner/agents/claude/outcomes
 * How a claude run ends, decided without I/O: the agent's error codes, a failed
 * model call as a job error (naming where and how often it was retried), and
 * what a turn's answer means for the run (finish, continue, run tools).
 */
import { APIConnectionError, APIError } from "@anthropic-ai/sdk";
import type { ToolCall } from "./conversation.ts";
import type { ClaudeSettings } from "./settings.ts";
import type { CollectedMessage } from "./stream.ts";
import { preview } from "./truncate.ts";

/** Error codes of this agent (beside run-job's own). */
export const CLAUDE_CODES = {
  budget: "BUDGET_EXCEEDED",
  api: "MODEL_API_ERROR",
  noKey: "MODEL_API_KEY_MISSING",
  refused: "MODEL_REFUSED",
} as const;

/** A job error of this agent. */
export type Failure = { code: string; message: string };

/** Why a model call failed, as a job error. */
export function apiFailure(err: unknown, settings: ClaudeSettings): Failure {
  const where = settings.baseURL ?? "https://api.anthropic.com";
  if (err instanceof APIConnectionError) {
    return {
      code: CLAUDE_CODES.api,
      message: `could not reach the model API at ${where} after ${settings.maxRetries} retries: ${err.message}`,
    };
  }
  if (err instanceof APIError) {
    const retried = err.status === 429 || err.status === 408 || err.status === 409 || (err.status ?? 0) >= 500;
    return {
      code: CLAUDE_CODES.api,
      message:
        `model API answered ${err.status ?? "an error"}${retried ? ` after ${settings.maxRetries} retries` : ""}: ` +
        preview(err.message, 500),
    };
  }
  return { code: CLAUDE_CODES.api, message: `model call failed: ${err instanceof Error ? err.message : String(err)}` };
}

/** How a turn ends the run, or "tools" (run them and go on) or "continue" (ask for more text). */
export type TurnEnd =
  | { kind: "finish"; exitCode: number | null; summary: string; error?: Failure }
  | { kind: "continue" }
  | { kind: "tools" };

/**
 * After the model answered: over budget → BUDGET_EXCEEDED; a refusal → MODEL_REFUSED;
 * no tool calls → done, unless cut off at max_tokens (then it may continue rather
 * than end the job on half a sentence); else run the tools.
 */
export function turnEnd(
  message: CollectedMessage,
  calls: readonly ToolCall[],
  over: string | null,
  lastText: string,
): TurnEnd {
  if (over)
    return {
      kind: "finish",
      exitCode: null,
      summary: lastText || over,
      error: { code: CLAUDE_CODES.budget, message: over },
    };
  if (message.stopReason === "refusal") {
    const msg = "the model declined the task (stop_reason refusal)";
    return {
      kind: "finish",
      exitCode: 1,
      summary: lastText || msg,
      error: { code: CLAUDE_CODES.refused, message: msg },
    };
  }
  if (calls.length > 0) return { kind: "tools" };
  if (message.stopReason === "max_tokens") return { kind: "continue" };
  return { kind: "finish", exitCode: 0, summary: lastText || "done" };
}
