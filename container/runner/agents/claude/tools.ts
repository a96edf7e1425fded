/**
 * @module runner/agents/claude/tools
 * The client tools the claude agent offers (Anthropic-defined schemas: the model
 * knows them, so only type and name are sent), running a tool_use block, and the
 * short summaries of inputs and outputs that go into job events.
 */
import type { ToolUnion } from "@anthropic-ai/sdk/resources/messages";
import type { BashSession } from "./bash-tool.ts";
import { runEditor, ToolFailure } from "./editor.ts";
import { headTail, preview } from "./truncate.ts";

export const BASH_TOOL = "bash";
export const EDITOR_TOOL = "str_replace_based_edit_tool";

/**
 * The tool list. Tools come first in the cached prefix (tools → system → messages);
 * the breakpoint on the last tool caches them on their own, the system prompt's and
 * the conversation's breakpoints (claude.ts) extend it. `maxCharacters` caps editor views.
 */
export function toolDefinitions(maxCharacters: number): ToolUnion[] {
  return [
    { type: "bash_20250124", name: BASH_TOOL },
    {
      type: "text_editor_20250728",
      name: EDITOR_TOOL,
      max_characters: maxCharacters,
      cache_control: { type: "ephemeral" },
    },
  ];
}

/** What a tool call gives back to the model. */
export interface ToolOutcome {
  text: string;
  isError: boolean;
}

/**
 * Runs one tool_use. Never throws for anything the model sent: a malformed input, an
 * unknown tool, a failed edit all come back as `isError` results the model can act on.
 * `input` is undefined when the streamed input was not valid JSON (`rawInput` holds it).
 */
export async function runTool(
  name: string,
  input: unknown,
  rawInput: string | null,
  ctx: { workspace: string; bash: BashSession; outputChars: number },
): Promise<ToolOutcome> {
  try {
    if (input === undefined) {
      throw new ToolFailure(
        `The tool input was not valid JSON: ${preview(rawInput ?? "", 300)}. Send the parameters as a JSON object.`,
      );
    }
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new ToolFailure("The tool input must be a JSON object");
    }
    const args = input as Record<string, unknown>;
    if (name === BASH_TOOL) {
      const r = await ctx.bash.call(args);
      return { text: headTail(r.text, ctx.outputChars), isError: r.isError };
    }
    if (name === EDITOR_TOOL) {
      return { text: headTail(await runEditor(ctx.workspace, args), ctx.outputChars), isError: false };
    }
    throw new ToolFailure(`Unknown tool ${JSON.stringify(name)}: use ${BASH_TOOL} or ${EDITOR_TOOL}`);
  } catch (err) {
    if (err instanceof ToolFailure) return { text: `Error: ${err.message}`, isError: true };
    // Filesystem errors (EACCES, ENOSPC…) are the model's to handle too; only aborts end the job.
    const e = err as NodeJS.ErrnoException;
    return { text: `Error: ${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}`, isError: true };
  }
}

/** A short, event-sized summary of a tool input (contents are cut, never dropped silently). */
export function summarizeInput(name: string, input: unknown): Record<string, unknown> {
  if (typeof input !== "object" || input === null) return { raw: preview(JSON.stringify(input) ?? "", 300) };
  const a = input as Record<string, unknown>;
  if (name === BASH_TOOL) return a.restart === true ? { restart: true } : { command: preview(String(a.command), 500) };
  if (name === EDITOR_TOOL) {
    const out: Record<string, unknown> = { command: a.command, path: a.path };
    for (const k of ["file_text", "old_str", "new_str"] as const) {
      if (typeof a[k] === "string") out[k] = preview(a[k] as string, 160);
    }
    if (a.insert_line !== undefined) out.insert_line = a.insert_line;
    if (a.view_range !== undefined) out.view_range = a.view_range;
    return out;
  }
  return { raw: preview(JSON.stringify(a), 300) };
}
