/**
 * @module runner/agents/claude/settings
 * The claude agent's settings (from the runner's environment, which the Worker
 * fills: src/runner-driver/job.ts) and its cost estimate: a price table per model.
 *
 * Limits per job, each with a default sized for one focused coding task:
 * - AGENT_MAX_TURNS (100): model calls; a runaway loop ends here.
 * - AGENT_MAX_TOKENS (20,000,000): tokens processed — input, output, cache reads
 *   and writes. Cache reads count because each turn re-reads the conversation.
 * - AGENT_MAX_COST_USD (10): the estimated cost below.
 * - AGENT_MAX_OUTPUT_TOKENS (16,384): max_tokens of one model call.
 * - CLAUDE_MAX_RETRIES (4): the SDK's retries with backoff on 408/409/429/5xx and
 *   connection errors; CLAUDE_REQUEST_TIMEOUT_MS (600,000): one model call.
 */

/**
 * Model when the job names none. Claude Sonnet 5.5: Anthropic's documented "best
 * combination of speed and intelligence" (the models overview lists Opus 5.5 as the
 * general starting point; Sonnet costs half as much per token for coding loops).
 */
export const DEFAULT_CLAUDE_MODEL = "claude-sonnet-5-5";

/** Resolved settings of one job. */
export interface ClaudeSettings {
  apiKey: string;
  /** Undefined = the SDK's default (https://api.anthropic.com). */
  baseURL: string | undefined;
  model: string;
  maxTurns: number;
  maxTokens: number;
  maxCostUsd: number;
  maxOutputTokens: number;
  maxRetries: number;
  requestTimeoutMs: number;
  /** Longest tool output the model sees, in characters (head + tail kept). */
  toolOutputChars: number;
  /** Time limit of one bash tool call. */
  bashTimeoutMs: number;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, opts: { integer?: boolean } = {}): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (opts.integer && !Number.isInteger(n))) return fallback;
  return n;
}

/** Reads the settings; the key may be empty (the agent then fails with a clear message). */
export function loadClaudeSettings(env: NodeJS.ProcessEnv, jobModel: string | null): ClaudeSettings {
  return {
    apiKey: env.ANTHROPIC_API_KEY?.trim() ?? "",
    baseURL: env.ANTHROPIC_BASE_URL?.trim() ? env.ANTHROPIC_BASE_URL.trim().replace(/\/+$/, "") : undefined,
    model: jobModel?.trim() || DEFAULT_CLAUDE_MODEL,
    maxTurns: num(env, "AGENT_MAX_TURNS", 100, { integer: true }),
    maxTokens: num(env, "AGENT_MAX_TOKENS", 20_000_000, { integer: true }),
    maxCostUsd: num(env, "AGENT_MAX_COST_USD", 10),
    maxOutputTokens: num(env, "AGENT_MAX_OUTPUT_TOKENS", 16_384, { integer: true }) || 16_384,
    maxRetries: num(env, "CLAUDE_MAX_RETRIES", 4, { integer: true }),
    requestTimeoutMs: num(env, "CLAUDE_REQUEST_TIMEOUT_MS", 600_000, { integer: true }) || 600_000,
    toolOutputChars: num(env, "CLAUDE_TOOL_OUTPUT_CHARS", 30_000, { integer: true }) || 30_000,
    bashTimeoutMs: num(env, "CLAUDE_BASH_TIMEOUT_MS", 300_000, { integer: true }) || 300_000,
  };
}

/** USD per million tokens. cacheWrite is the 5-minute cache write (the agent's only kind). */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

const p = (input: number, output: number, cacheWrite: number, cacheRead: number): ModelPrice => ({
  input,
  output,
  cacheWrite,
  cacheRead,
});

/**
 * List prices from Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing),
 * as of this file's writing. Keys are model-id prefixes; the longest match wins, so
 * dated snapshots (claude-sonnet-4-5-20250929) find their family's price.
 */
export const PRICES: Record<string, ModelPrice> = {
  "claude-fable-5-1": p(10, 50, 12.5, 0.25),
  "claude-mythos-5-1": p(10, 50, 12.5, 0.25),
  "claude-fable-5": p(10, 50, 12.5, 1),
  "claude-mythos-5": p(10, 50, 12.5, 1),
  "claude-opus-5-5": p(4, 20, 5, 0.2),
  "claude-opus-5": p(5, 25, 6.25, 0.5),
  "claude-opus-4-8": p(5, 25, 6.25, 0.5),
  "claude-opus-4-7": p(5, 25, 6.25, 0.5),
  "claude-opus-4-6": p(5, 25, 6.25, 0.5),
  "claude-opus-4-5": p(5, 25, 6.25, 0.5),
  "claude-opus-4-1": p(15, 75, 18.75, 1.5),
  "claude-opus-4": p(15, 75, 18.75, 1.5),
  "claude-sonnet-5-5": p(2, 10, 2.5, 0.1),
  "claude-sonnet-5": p(2, 10, 2.5, 0.2),
  "claude-sonnet-4": p(3, 15, 3.75, 0.3),
  "claude-haiku-5-5": p(0.1, 0.5, 0.125, 0.01),
  "claude-haiku-4-5": p(1, 5, 1.25, 0.1),
};

/**
 * The price of `model`; unknown models (a gateway alias, a newer model) are
 * estimated at the most expensive listed price, so the budget errs on the safe side.
 */
export function priceOf(model: string): { price: ModelPrice; known: boolean } {
  let best: string | null = null;
  for (const k of Object.keys(PRICES)) {
    if ((model === k || model.startsWith(`${k}-`)) && (!best || k.length > best.length)) best = k;
  }
  if (best) return { price: PRICES[best] as ModelPrice, known: true };
  const max = Object.values(PRICES).reduce((a, b) => (b.output > a.output ? b : a));
  return { price: max, known: false };
}

/** Token counts as the result reports them. */
export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/** Estimated USD cost of `u` at `price`. */
export function costOf(u: TokenCounts, price: ModelPrice): number {
  return (
    (u.inputTokens * price.input +
      u.outputTokens * price.output +
      u.cacheWriteTokens * price.cacheWrite +
      u.cacheReadTokens * price.cacheRead) /
    1_000_000
  );
}
