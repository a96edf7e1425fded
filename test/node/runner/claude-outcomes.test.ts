/**
 * How a claude turn ends the run (container/runner/agents/claude/outcomes.ts),
 * table-driven: budget, refusal, tool calls, a cut-off answer, done. No I/O.
 */
import { describe, expect, it } from "vitest";
import { CLAUDE_CODES, turnEnd } from "../../../container/runner/agents/claude/outcomes.ts";
import type { CollectedMessage } from "../../../container/runner/agents/claude/stream.ts";

const msg = (stopReason: CollectedMessage["stopReason"]): CollectedMessage => ({
  model: "m",
  content: [],
  stopReason,
  usage: {},
});
const call = { id: "t1", name: "bash", input: { command: "ls" }, raw: '{"command":"ls"}' };

describe("turnEnd", () => {
  const cases: Array<[string, CollectedMessage, (typeof call)[], string | null, string, unknown]> = [
    ["done", msg("end_turn"), [], null, "last words", { kind: "finish", exitCode: 0, summary: "last words" }],
    ["done without text", msg("end_turn"), [], null, "", { kind: "finish", exitCode: 0, summary: "done" }],
    ["tools asked for", msg("tool_use"), [call], null, "", { kind: "tools" }],
    ["cut off without tools: continue", msg("max_tokens"), [], null, "half", { kind: "continue" }],
    ["cut off with tools: run them", msg("max_tokens"), [call], null, "", { kind: "tools" }],
    [
      "refusal beats tools",
      msg("refusal"),
      [call],
      null,
      "",
      { kind: "finish", exitCode: 1, error: { code: CLAUDE_CODES.refused } },
    ],
    [
      "over budget beats everything",
      msg("refusal"),
      [call],
      "cost over",
      "so far",
      { kind: "finish", exitCode: null, summary: "so far", error: { code: CLAUDE_CODES.budget, message: "cost over" } },
    ],
    [
      "over budget, no text: the reason is the summary",
      msg("end_turn"),
      [],
      "turns over",
      "",
      { summary: "turns over" },
    ],
  ];
  it.each(cases)("%s", (_name, message, calls, over, lastText, expected) => {
    expect(turnEnd(message, calls, over, lastText)).toMatchObject(expected as object);
  });
});
