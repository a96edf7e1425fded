/**
 * @module runner/agents/opencode-events
 * Maps the JSON event stream of `opencode run --format json` (one JSON object per
 * stdout line) to job events, and its WARN/ERROR log lines (stderr, with
 * `--print-logs`) to model-API error counts.
 *
 * opencode 1.18's events: `step_start`; `text` {part.text}; `reasoning`;
 * `tool_use` {part.tool, part.callID, part.state: {status, input, output|error,
 * title}} once a tool call has finished; `step_finish` {part.reason,
 * part.tokens: {input, output, reasoning, cache: {read, write}}, part.cost};
 * `error` {error: {name, data.message}}. Every event carries `sessionID`.
 * Unknown types are passed on as `agent_step {kind: "other"}` so nothing is lost.
 */
import type { NewJobEvent } from "../../../src/shared/job-format.ts";
import type { AgentUsage } from "./types.ts";

/** Longest tool input/output a job event carries (the rest is cut, with a marker). */
export const MAX_STEP_CHARS = 4000;

/** Running state of one opencode process's output. */
export interface OpencodeStreamState {
  sessionId: string | null;
  usage: AgentUsage;
  /** The model's text parts, in order. */
  texts: string[];
  /** The last `error` event's message. */
  lastError: string | null;
  toolCalls: number;
}

/** A fresh state. */
export function newStreamState(): OpencodeStreamState {
  return {
    sessionId: null,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 },
    texts: [],
    lastError: null,
    toolCalls: 0,
  };
}

function cut(value: unknown): unknown {
  if (value === undefined || value === null) return value;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text.length <= MAX_STEP_CHARS) return value;
  return `${text.slice(0, MAX_STEP_CHARS)}… [${text.length - MAX_STEP_CHARS} more characters]`;
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/**
 * Handles one stdout line: updates `state`, returns the job events it makes.
 * A line that is not JSON is opencode talking plainly: a `log` event.
 */
export function mapOpencodeLine(line: string, state: OpencodeStreamState): NewJobEvent[] {
  if (!line.trim()) return [];
  let ev: Record<string, unknown>;
  try {
    ev = obj(JSON.parse(line));
  } catch {
    return [{ type: "log", data: { stream: "stdout", line: String(cut(line)) } }];
  }
  if (typeof ev.sessionID === "string" && !state.sessionId) state.sessionId = ev.sessionID;
  const part = obj(ev.part);
  switch (ev.type) {
    case "step_start":
      return [];
    case "text": {
      const text = typeof part.text === "string" ? part.text : "";
      if (!text) return [];
      state.texts.push(text);
      return [{ type: "agent_step", data: { kind: "text", text: cut(text) } }];
    }
    case "reasoning":
      return [{ type: "agent_step", data: { kind: "reasoning", text: cut(part.text) } }];
    case "tool_use": {
      const st = obj(part.state);
      const tool = String(part.tool ?? "unknown");
      const callId = typeof part.callID === "string" ? part.callID : null;
      state.toolCalls++;
      const ok = st.status === "completed";
      return [
        {
          type: "agent_step",
          data: { kind: "tool_call", tool, callId, input: cut(st.input), title: st.title ?? null },
        },
        {
          type: "agent_step",
          data: { kind: "tool_result", tool, callId, ok, output: cut(ok ? st.output : (st.error ?? st.output)) },
        },
      ];
    }
    case "step_finish": {
      const tokens = obj(part.tokens);
      const cache = obj(tokens.cache);
      const u = state.usage;
      // opencode reports input without the cached part, and reasoning apart from output.
      u.inputTokens += num(tokens.input);
      u.outputTokens += num(tokens.output) + num(tokens.reasoning);
      u.cacheReadTokens += num(cache.read);
      u.cacheWriteTokens += num(cache.write);
      u.costUsd += num(part.cost);
      return [
        {
          type: "agent_step",
          data: { kind: "turn", reason: part.reason ?? null, tokens: part.tokens ?? null, cost: num(part.cost) },
        },
      ];
    }
    case "error": {
      const err = obj(ev.error);
      const data = obj(err.data);
      const message = String(data.message ?? err.message ?? err.name ?? "unknown error");
      state.lastError = message;
      return [{ type: "agent_step", data: { kind: "error", name: err.name ?? null, message: cut(message) } }];
    }
    default:
      return [{ type: "agent_step", data: { kind: "other", event: ev.type ?? null, raw: cut(line) } }];
  }
}

/** A model API failure found in one log line: opencode's `stream error` of the main (not title) model. */
export function modelErrorOf(line: string): string | null {
  if (!/level=ERROR/.test(line) || !/message="stream error"/.test(line)) return null;
  // Session-title requests (small=true) failing do not hold the job up.
  if (/\bsmall=true\b/.test(line)) return null;
  const m = /error\.error="((?:[^"\\]|\\.)*)"/.exec(line);
  return m?.[1] ?? "model API error";
}
