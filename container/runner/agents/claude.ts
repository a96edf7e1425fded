/**
 * @module runner/agents/claude
 * The `claude` agent: a coding-agent loop on the Anthropic Messages API
 * (`@anthropic-ai/sdk`, streamed: `messages.create({stream: true})`). Each turn sends the
 * conversation with Anthropic's client tools — bash and the text editor
 * (`str_replace_based_edit_tool`) — which the runner executes in the workspace
 * (claude/bash-tool.ts, claude/editor.ts), and answers with their results, until
 * the model stops asking for tools.
 *
 * - Prompt caching: breakpoints on the tools, the system prompt and the newest
 *   message (3 of the API's 4), so every turn re-reads the conversation from cache.
 * - Limits (claude/settings.ts): turns, tokens processed and estimated cost per
 *   job → BUDGET_EXCEEDED; run-job then snapshots the work so far and reports failed.
 * - API errors: the SDK retries 408/409/429/5xx and connection errors with backoff
 *   (CLAUDE_MAX_RETRIES); then the job fails with MODEL_API_ERROR naming the status.
 * - Everything the model sends is checked: malformed tool input goes back as an
 *   `is_error` tool result, never crashes the runner.
 * - Events: `agent_step` {kind: text | tool_use | tool_result | usage}; the result
 *   carries the usage totals and the cost estimate.
 * - Abort (timeout, cancel, lease loss): the stream and the running tool stop, and
 *   every process the bash tool started is killed before run returns.
 */
import Anthropic, { APIConnectionError, APIError, APIUserAbortError } from "@anthropic-ai/sdk";
import type { ContentBlockParam, MessageParam, TextBlockParam } from "@anthropic-ai/sdk/resources/messages";
import { BashSession } from "./claude/bash-tool.ts";
import { UsageMeter } from "./claude/budget.ts";
import { type ClaudeSettings, loadClaudeSettings } from "./claude/settings.ts";
import { type CollectedMessage, collectMessage } from "./claude/stream.ts";
import { runTool, summarizeInput, toolDefinitions } from "./claude/tools.ts";
import { headTail, preview } from "./claude/truncate.ts";
import type { Agent, AgentContext, AgentOutcome } from "./types.ts";

/** Error codes of this agent (beside run-job's own). */
export const CLAUDE_CODES = {
  budget: "BUDGET_EXCEEDED",
  api: "MODEL_API_ERROR",
  noKey: "MODEL_API_KEY_MISSING",
  refused: "MODEL_REFUSED",
} as const;

const SUMMARY_MAX_CHARS = 4000;
/** Longest assistant text one event carries. */
const EVENT_TEXT_CHARS = 4000;
/** Longest tool output one event carries. */
const EVENT_OUTPUT_CHARS = 1000;

function systemPrompt(workspace: string): string {
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

/** Why a model call failed, as a job error. */
function apiFailure(err: unknown, settings: ClaudeSettings): { code: string; message: string } {
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

/** Moves the conversation's cache breakpoint to the last block of the newest message. */
function markCacheBreakpoint(messages: MessageParam[]): void {
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

async function runClaude(ctx: AgentContext): Promise<AgentOutcome> {
  const settings = loadClaudeSettings(ctx.env, ctx.job.model);
  const meter = new UsageMeter(settings);
  const finish = (exitCode: number | null, summary: string, error?: { code: string; message: string }) => ({
    exitCode,
    summary: headTail(summary, SUMMARY_MAX_CHARS),
    usage: meter.usage(),
    ...(error ? { error } : {}),
  });
  if (!settings.apiKey) {
    const message = "ANTHROPIC_API_KEY is not set in the runner's environment (set it as a Worker secret)";
    return finish(null, message, { code: CLAUDE_CODES.noKey, message });
  }
  if (!meter.priceKnown)
    ctx.log(`no price for model ${settings.model}: the cost is estimated at the highest listed price`);

  const client = new Anthropic({
    apiKey: settings.apiKey,
    // Never a bearer token from the environment: the key (or the egress placeholder) is the one credential.
    authToken: null,
    baseURL: settings.baseURL ?? null,
    maxRetries: settings.maxRetries,
    timeout: settings.requestTimeoutMs,
  });
  const bash = new BashSession(ctx.workspace, ctx.env, {
    timeoutMs: settings.bashTimeoutMs,
    outputChars: settings.toolOutputChars,
    signal: ctx.signal,
  });
  const system: TextBlockParam[] = [
    { type: "text", text: systemPrompt(ctx.workspace), cache_control: { type: "ephemeral" } },
  ];
  const tools = toolDefinitions(settings.toolOutputChars);
  const messages: MessageParam[] = [{ role: "user", content: [{ type: "text", text: ctx.job.prompt }] }];
  let lastText = "";
  const stopped = () => finish(null, lastText || `stopped (${String(ctx.signal.reason)})`);

  try {
    for (;;) {
      if (ctx.signal.aborted) return stopped();
      const over = meter.exceeded(true);
      if (over) return finish(null, lastText || over, { code: CLAUDE_CODES.budget, message: over });

      markCacheBreakpoint(messages);
      meter.turns++;
      let message: CollectedMessage;
      try {
        // Raw events, not messages.stream(): see claude/stream.ts (malformed tool JSON).
        const stream = await client.messages.create(
          { model: settings.model, max_tokens: settings.maxOutputTokens, system, tools, messages, stream: true },
          { signal: ctx.signal },
        );
        message = await collectMessage(stream);
      } catch (err) {
        if (err instanceof APIUserAbortError || ctx.signal.aborted) return stopped();
        const failure = apiFailure(err, settings);
        ctx.log(`claude: ${failure.message}`);
        return finish(null, lastText || failure.message, failure);
      }

      const turnUsage = meter.add(message.usage);
      ctx.emit({
        type: "agent_step",
        data: {
          kind: "usage",
          turn: meter.turns,
          model: message.model,
          stopReason: message.stopReason,
          ...turnUsage,
          total: meter.usage(),
        },
      });

      const assistant: ContentBlockParam[] = [];
      const calls: Array<{ id: string; name: string; input: unknown; raw: string }> = [];
      for (const block of message.content) {
        if (block.type === "text") {
          if (block.text.trim()) {
            lastText = block.text;
            ctx.emit({
              type: "agent_step",
              data: { kind: "text", turn: meter.turns, text: headTail(block.text, EVENT_TEXT_CHARS) },
            });
          }
          assistant.push({ type: "text", text: block.text });
        } else if (block.type === "tool_use") {
          const { id, name, input, raw } = block;
          calls.push({ id, name, input, raw });
          // The history must hold an object even when the model's JSON was broken.
          const safe = typeof input === "object" && input !== null && !Array.isArray(input) ? input : {};
          assistant.push({ type: "tool_use", id, name, input: safe });
        } else {
          // Thinking blocks (with signatures) must go back unchanged.
          assistant.push(block.block as ContentBlockParam);
        }
      }
      if (assistant.length === 0) assistant.push({ type: "text", text: "(no response)" });
      messages.push({ role: "assistant", content: assistant });

      const overAfter = meter.exceeded(false);
      if (overAfter) return finish(null, lastText || overAfter, { code: CLAUDE_CODES.budget, message: overAfter });
      if (message.stopReason === "refusal") {
        const msg = "the model declined the task (stop_reason refusal)";
        return finish(1, lastText || msg, { code: CLAUDE_CODES.refused, message: msg });
      }
      if (calls.length === 0) {
        if (message.stopReason === "max_tokens") {
          // Cut off mid-answer: let it continue rather than end the job on half a sentence.
          messages.push({ role: "user", content: [{ type: "text", text: "Continue." }] });
          continue;
        }
        return finish(0, lastText || "done");
      }

      const results: ContentBlockParam[] = [];
      for (const call of calls) {
        if (ctx.signal.aborted) return stopped();
        ctx.emit({
          type: "agent_step",
          data: {
            kind: "tool_use",
            turn: meter.turns,
            id: call.id,
            name: call.name,
            input: summarizeInput(call.name, call.input),
          },
        });
        const t0 = Date.now();
        const out = await runTool(call.name, call.input, call.raw, {
          workspace: ctx.workspace,
          bash,
          outputChars: settings.toolOutputChars,
        });
        ctx.emit({
          type: "agent_step",
          data: {
            kind: "tool_result",
            turn: meter.turns,
            id: call.id,
            name: call.name,
            isError: out.isError,
            durationMs: Date.now() - t0,
            output: headTail(out.text, EVENT_OUTPUT_CHARS),
          },
        });
        results.push({
          type: "tool_result",
          tool_use_id: call.id,
          content: out.text,
          ...(out.isError ? { is_error: true } : {}),
        });
      }
      messages.push({ role: "user", content: results });
    }
  } finally {
    // Nothing the model started may still write while run-job snapshots.
    bash.killAll("SIGKILL");
  }
}

/** The claude agent. */
export const claudeAgent: Agent = { name: "claude", run: runClaude };
