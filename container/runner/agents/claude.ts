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
 *
 * One turn is: ask the model (callModel), put its answer into the history
 * (claude/conversation.ts), decide whether the run ends (turnEnd), run the tools
 * it asked for (runCalls).
 */

import Anthropic, { APIUserAbortError } from "@anthropic-ai/sdk";
import type { ContentBlockParam, MessageParam, TextBlockParam, ToolUnion } from "@anthropic-ai/sdk/resources/messages";
import { BashSession } from "./claude/bash-tool.ts";
import { UsageMeter } from "./claude/budget.ts";
import { assistantTurn, markCacheBreakpoint, systemPrompt, type ToolCall } from "./claude/conversation.ts";
import { apiFailure, CLAUDE_CODES, type Failure, turnEnd } from "./claude/outcomes.ts";
import { type ClaudeSettings, loadClaudeSettings } from "./claude/settings.ts";
import { type CollectedMessage, collectMessage } from "./claude/stream.ts";
import { runTool, summarizeInput, toolDefinitions } from "./claude/tools.ts";
import { headTail } from "./claude/truncate.ts";
import type { Agent, AgentContext, AgentOutcome } from "./types.ts";

export { CLAUDE_CODES };

const SUMMARY_MAX_CHARS = 4000;
/** Longest assistant text one event carries. */
const EVENT_TEXT_CHARS = 4000;
/** Longest tool output one event carries. */
const EVENT_OUTPUT_CHARS = 1000;

/** One run of the agent: its settings, model client, bash session and conversation. */
class ClaudeRun {
  private readonly ctx: AgentContext;
  private readonly settings: ClaudeSettings;
  private readonly meter: UsageMeter;
  private readonly client: Anthropic;
  private readonly bash: BashSession;
  private readonly system: TextBlockParam[];
  private readonly tools: ToolUnion[];
  private readonly messages: MessageParam[];
  /** The model's newest text: the summary of a run that ends. */
  private lastText = "";

  constructor(ctx: AgentContext, settings: ClaudeSettings, meter: UsageMeter) {
    this.ctx = ctx;
    this.settings = settings;
    this.meter = meter;
    this.client = new Anthropic({
      apiKey: settings.apiKey,
      // Never a bearer token from the environment: the key (or the egress placeholder) is the one credential.
      authToken: null,
      baseURL: settings.baseURL ?? null,
      maxRetries: settings.maxRetries,
      timeout: settings.requestTimeoutMs,
    });
    this.bash = new BashSession(ctx.workspace, ctx.env, {
      timeoutMs: settings.bashTimeoutMs,
      outputChars: settings.toolOutputChars,
      signal: ctx.signal,
    });
    this.system = [{ type: "text", text: systemPrompt(ctx.workspace), cache_control: { type: "ephemeral" } }];
    this.tools = toolDefinitions(settings.toolOutputChars);
    this.messages = [{ role: "user", content: [{ type: "text", text: ctx.job.prompt }] }];
  }

  /** Turns until the model is done, the budget is spent or the run is aborted. */
  async run(): Promise<AgentOutcome> {
    const { ctx, meter } = this;
    try {
      for (;;) {
        if (ctx.signal.aborted) return this.stopped();
        const over = meter.exceeded(true);
        if (over) return this.finish(null, this.lastText || over, { code: CLAUDE_CODES.budget, message: over });
        const message = await this.callModel();
        if ("outcome" in message) return message.outcome;
        this.emitUsage(message);
        const { assistant, calls } = assistantTurn(message, (text) => {
          this.lastText = text;
          ctx.emit({
            type: "agent_step",
            data: { kind: "text", turn: meter.turns, text: headTail(text, EVENT_TEXT_CHARS) },
          });
        });
        this.messages.push(assistant);
        const end = turnEnd(message, calls, meter.exceeded(false), this.lastText);
        if (end.kind === "finish") return this.finish(end.exitCode, end.summary, end.error);
        if (end.kind === "continue") {
          this.messages.push({ role: "user", content: [{ type: "text", text: "Continue." }] });
          continue;
        }
        const results = await this.runCalls(calls);
        if (!results) return this.stopped();
        this.messages.push({ role: "user", content: results });
      }
    } finally {
      // Nothing the model started may still write while run-job snapshots.
      this.bash.killAll("SIGKILL");
    }
  }

  /** The outcome of a run that ends now (the meter's usage, the summary cut to size). */
  finish(exitCode: number | null, summary: string, error?: Failure): AgentOutcome {
    return {
      exitCode,
      summary: headTail(summary, SUMMARY_MAX_CHARS),
      usage: this.meter.usage(),
      ...(error ? { error } : {}),
    };
  }

  private stopped(): AgentOutcome {
    return this.finish(null, this.lastText || `stopped (${String(this.ctx.signal.reason)})`);
  }

  /** One model call, streamed; an abort or an API failure ends the run. */
  private async callModel(): Promise<CollectedMessage | { outcome: AgentOutcome }> {
    const { ctx, settings } = this;
    markCacheBreakpoint(this.messages);
    this.meter.turns++;
    try {
      // Raw events, not messages.stream(): see claude/stream.ts (malformed tool JSON).
      const stream = await this.client.messages.create(
        {
          model: settings.model,
          max_tokens: settings.maxOutputTokens,
          system: this.system,
          tools: this.tools,
          messages: this.messages,
          stream: true,
        },
        { signal: ctx.signal },
      );
      return await collectMessage(stream);
    } catch (err) {
      if (err instanceof APIUserAbortError || ctx.signal.aborted) return { outcome: this.stopped() };
      const failure = apiFailure(err, settings);
      ctx.log(`claude: ${failure.message}`);
      return { outcome: this.finish(null, this.lastText || failure.message, failure) };
    }
  }

  private emitUsage(message: CollectedMessage): void {
    const turnUsage = this.meter.add(message.usage);
    this.ctx.emit({
      type: "agent_step",
      data: {
        kind: "usage",
        turn: this.meter.turns,
        model: message.model,
        stopReason: message.stopReason,
        ...turnUsage,
        total: this.meter.usage(),
      },
    });
  }

  /** Runs the tool calls in order; their results for the next user message, or null once aborted. */
  private async runCalls(calls: readonly ToolCall[]): Promise<ContentBlockParam[] | null> {
    const { ctx, meter } = this;
    const results: ContentBlockParam[] = [];
    for (const call of calls) {
      if (ctx.signal.aborted) return null;
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
        bash: this.bash,
        outputChars: this.settings.toolOutputChars,
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
    return results;
  }
}

async function runClaude(ctx: AgentContext): Promise<AgentOutcome> {
  const settings = loadClaudeSettings(ctx.env, ctx.job.model);
  const meter = new UsageMeter(settings);
  if (!settings.apiKey) {
    const message = "ANTHROPIC_API_KEY is not set in the runner's environment (set it as a Worker secret)";
    return {
      exitCode: null,
      summary: headTail(message, SUMMARY_MAX_CHARS),
      usage: meter.usage(),
      error: { code: CLAUDE_CODES.noKey, message },
    };
  }
  if (!meter.priceKnown)
    ctx.log(`no price for model ${settings.model}: the cost is estimated at the highest listed price`);
  return new ClaudeRun(ctx, settings, meter).run();
}

/** The claude agent. */
export const claudeAgent: Agent = { name: "claude", run: runClaude };
