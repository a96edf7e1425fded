/**
 * @module runner/agents/claude/conversation
 * The conversation the claude agent keeps with the model: the system prompt, the
 * cache breakpoint that moves to the newest message each turn, and how an
 * assembled response goes back into the history (the tool calls it asks for
 * taken out of it).
 */
import type { ContentBlockParam, MessageParam } from "@anthropic-ai/sdk/resources/messages";
import type { CollectedMessage } from "./stream.ts";

/** One tool call of the model's: `input` is undefined when its JSON was malformed; `raw` is the JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  input: unknown;
  raw: string;
}

/** The system prompt for a project in `workspace`. */
export function systemPrompt(workspace: string): string {
  return [
    "You are a coding agent working in a project's sandbox on behalf of a user who is not watching.",
    `The project is in ${workspace}; the bash tool starts there and every file you edit must be inside it.`,
    "Use the str_replace_based_edit_tool to read and change files and bash to run commands (builds, tests, git).",
    "Each bash call is a fresh shell: the working directory carries over between calls, shell variables do not.",
    "Commands run without a terminal and without input; avoid interactive programs.",
    "Work until the task is done, check your work where you can, then end with a short summary of what you changed.",
    "Do not commit, push or print secrets: the sandbox snapshots the workspace after you finish.",
  ].join("\n");
}

/** Moves the conversation's cache breakpoint to the last block of the newest message. */
export function markCacheBreakpoint(messages: MessageParam[]): void {
  for (const m of messages) {
    if (typeof m.content === "string") continue;
    for (const b of m.content) if ("cache_control" in b) delete (b as { cache_control?: unknown }).cache_control;
  }
  const last = messages.at(-1);
  if (!last) return;
  if (typeof last.content === "string") last.content = [{ type: "text", text: last.content }];
  const block = last.content.at(-1) as (ContentBlockParam & { cache_control?: unknown }) | undefined;
  if (block && block.type !== "thinking" && block.type !== "redacted_thinking") {
    block.cache_control = { type: "ephemeral" };
  }
}

/**
 * The assistant message that goes back into the history for `message`, and the
 * tool calls it asks for. `onText` sees each non-blank text block.
 */
export function assistantTurn(
  message: CollectedMessage,
  onText: (text: string) => void,
): { assistant: MessageParam; calls: ToolCall[] } {
  const content: ContentBlockParam[] = [];
  const calls: ToolCall[] = [];
  for (const block of message.content) {
    if (block.type === "text") {
      if (block.text.trim()) onText(block.text);
      content.push({ type: "text", text: block.text });
    } else if (block.type === "tool_use") {
      const { id, name, input, raw } = block;
      calls.push({ id, name, input, raw });
      // The history must hold an object even when the model's JSON was broken.
      const safe = typeof input === "object" && input !== null && !Array.isArray(input) ? input : {};
      content.push({ type: "tool_use", id, name, input: safe });
    } else {
      // Thinking blocks (with signatures) must go back unchanged.
      content.push(block.block as ContentBlockParam);
    }
  }
  if (content.length === 0) content.push({ type: "text", text: "(no response)" });
  return { assistant: { role: "assistant", content }, calls };
}
