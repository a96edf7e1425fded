/**
 * @module runner/agents/claude/budget
 * Token usage and the estimated cost of one claude job, and its limits (turns,
 * tokens processed, USD). The loop adds each response's usage and asks `exceeded`
 * before it goes on; over a limit the job stops with BUDGET_EXCEEDED.
 */
import type { AgentUsage } from "../types.ts";
import { type ClaudeSettings, costOf, type ModelPrice, priceOf, type TokenCounts } from "./settings.ts";

/** The usage block of a Messages API response (fields the API may leave out or null). */
export interface ApiUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/** Running totals for one job. */
export class UsageMeter {
  readonly counts: TokenCounts = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  turns = 0;
  readonly price: ModelPrice;
  /** False when the model is not in the price table (cost estimated at the highest listed price). */
  readonly priceKnown: boolean;
  private readonly settings: ClaudeSettings;

  constructor(settings: ClaudeSettings) {
    this.settings = settings;
    const { price, known } = priceOf(settings.model);
    this.price = price;
    this.priceKnown = known;
  }

  /** Adds one response's usage; returns that response's counts. */
  add(u: ApiUsage | null | undefined): TokenCounts {
    const one: TokenCounts = {
      inputTokens: u?.input_tokens ?? 0,
      outputTokens: u?.output_tokens ?? 0,
      cacheReadTokens: u?.cache_read_input_tokens ?? 0,
      cacheWriteTokens: u?.cache_creation_input_tokens ?? 0,
    };
    this.counts.inputTokens += one.inputTokens;
    this.counts.outputTokens += one.outputTokens;
    this.counts.cacheReadTokens += one.cacheReadTokens;
    this.counts.cacheWriteTokens += one.cacheWriteTokens;
    return one;
  }

  /** Every token processed (the token budget's measure). */
  get totalTokens(): number {
    const c = this.counts;
    return c.inputTokens + c.outputTokens + c.cacheReadTokens + c.cacheWriteTokens;
  }

  get costUsd(): number {
    return costOf(this.counts, this.price);
  }

  /** The result's usage block (cost rounded to micro-dollars). */
  usage(): AgentUsage {
    return { ...this.counts, costUsd: Math.round(this.costUsd * 1e6) / 1e6 };
  }

  /** Why the job must stop now, or null. `nextTurn`: about to start another model call. */
  exceeded(nextTurn: boolean): string | null {
    const s = this.settings;
    if (this.totalTokens > s.maxTokens) {
      return `token budget exceeded: ${this.totalTokens} tokens processed, limit ${s.maxTokens} (AGENT_MAX_TOKENS)`;
    }
    if (this.costUsd > s.maxCostUsd) {
      return `cost budget exceeded: about $${this.costUsd.toFixed(4)}, limit $${s.maxCostUsd} (AGENT_MAX_COST_USD)`;
    }
    if (nextTurn && this.turns >= s.maxTurns) {
      return `turn limit reached: ${this.turns} model calls, limit ${s.maxTurns} (AGENT_MAX_TURNS)`;
    }
    return null;
  }
}
