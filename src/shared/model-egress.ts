/**
 * @module shared/model-egress
 * Where coding agents reach the model APIs, shared by the Worker (src/models,
 * src/runner-driver/job.ts) and the runner's agents. No imports, so Node loads it directly.
 *
 * The runner never holds a model API key. Its ANTHROPIC_BASE_URL and OPENAI_BASE_URL
 * point at MODELS_INTERNAL_ORIGIN, a host the Worker answers (shared/egress.ts: the
 * Sandbox's outbound interception, or a local jail's host), adding the real key and
 * forwarding to the configured upstream; the keys in the runner's environment are a placeholder.
 */

/** The intercepted host (src/sandbox-class.ts). */
export const MODELS_INTERNAL_HOST = "models.sandbox-worker.internal";
export const MODELS_INTERNAL_ORIGIN = `http://${MODELS_INTERNAL_HOST}`;
/** Path prefixes on MODELS_INTERNAL_HOST: `/anthropic/*` → ANTHROPIC_BASE_URL, `/openai/*` → OPENAI_BASE_URL. */
export const MODEL_ROUTES = { anthropic: "/anthropic", openai: "/openai" } as const;

/** What the runner holds instead of a key when the Worker adds the real one on egress. */
export const EGRESS_KEY_PLACEHOLDER = "added-by-the-worker-on-egress";

/** The four model-provider variables (Worker secrets/vars, runner environment). */
export const MODEL_ENV = {
  anthropicKey: "ANTHROPIC_API_KEY",
  anthropicBaseUrl: "ANTHROPIC_BASE_URL",
  openaiKey: "OPENAI_API_KEY",
  openaiBaseUrl: "OPENAI_BASE_URL",
} as const;

/** Upstream defaults. ANTHROPIC_BASE_URL is the API root (the SDK appends /v1/…); OPENAI_BASE_URL includes /v1. */
export const DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com";
export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";
