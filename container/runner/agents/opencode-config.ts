/**
 * @module runner/agents/opencode-config
 * How the `opencode` agent configures the real opencode CLI: the command line,
 * the JSON config it passes in OPENCODE_CONFIG_CONTENT (providers pointed at
 * OPENAI_BASE_URL / ANTHROPIC_BASE_URL, every tool allowed without prompts, no
 * auto-update, no sharing, no snapshots of its own) and the environment (where
 * opencode keeps its state, what it must not fetch).
 *
 * Session state: opencode keeps sessions in a SQLite database under
 * `$XDG_DATA_HOME/opencode`. That directory lies in the workspace
 * (`/workspace/.opencode-state/data`), so the job's snapshot carries the
 * conversation and a follow-up job continues it (`--session <id>`, the id the
 * previous job recorded in `.opencode-state/session.json`). Its state, config and
 * cache directories (locks, installed plugins) and HOME are per-job scratch
 * outside the workspace: a lock restored from a snapshot would only get in the way.
 */

import { join } from "node:path";
// apiKey when the key is not in the environment: the Worker adds the real one on egress.
import { EGRESS_KEY_PLACEHOLDER } from "../../../src/shared/model-egress.ts";
import { DEFAULT_CLAUDE_MODEL } from "./claude/settings.ts";

/** The workspace directory holding opencode's data (NOT `.sandbox-worker/`, which snapshots drop). */
export const OPENCODE_STATE_DIR = ".opencode-state";
/** The file (inside OPENCODE_STATE_DIR) naming the session a follow-up job continues. */
export const SESSION_FILE = "session.json";
/** Model when the job names none: the claude agent's default, through opencode's anthropic provider. */
export const DEFAULT_OPENCODE_MODEL = `anthropic/${DEFAULT_CLAUDE_MODEL}`;
/**
 * A provider for endpoints that speak OpenAI's chat completions (gateways, local
 * servers): opencode's own `openai` provider speaks the Responses API instead.
 * Its base URL is OPENAI_BASE_URL.
 */
export const OPENAI_COMPATIBLE_PROVIDER = "openai-compatible";

/** A job model split into opencode's provider id and model id. */
export interface OpencodeModel {
  provider: string;
  model: string;
}

/** Parses `provider/model` (the model id may itself contain slashes); null if malformed. */
export function parseModel(spec: string | null): OpencodeModel | null {
  const s = (spec ?? DEFAULT_OPENCODE_MODEL).trim();
  const slash = s.indexOf("/");
  if (slash <= 0 || slash === s.length - 1) return null;
  return { provider: s.slice(0, slash), model: s.slice(slash + 1) };
}

/** ANTHROPIC_BASE_URL is the API root (Anthropic SDK convention); the AI SDK wants it with /v1. */
function anthropicBaseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  return /\/v1$/.test(trimmed) ? trimmed : `${trimmed}/v1`;
}

/** The JSON config for OPENCODE_CONFIG_CONTENT. */
export function opencodeConfig(env: NodeJS.ProcessEnv, m: OpencodeModel): Record<string, unknown> {
  const openaiKey = env.OPENAI_API_KEY || EGRESS_KEY_PLACEHOLDER;
  const anthropicKey = env.ANTHROPIC_API_KEY || EGRESS_KEY_PLACEHOLDER;
  const providers: Record<string, Record<string, unknown>> = {
    openai: { options: { apiKey: openaiKey, ...(env.OPENAI_BASE_URL ? { baseURL: env.OPENAI_BASE_URL } : {}) } },
    anthropic: {
      options: {
        apiKey: anthropicKey,
        ...(env.ANTHROPIC_BASE_URL ? { baseURL: anthropicBaseUrl(env.ANTHROPIC_BASE_URL) } : {}),
      },
    },
    [OPENAI_COMPATIBLE_PROVIDER]: {
      // Bundled in the opencode binary: nothing is installed at job time.
      npm: "@ai-sdk/openai-compatible",
      name: "OpenAI-compatible (OPENAI_BASE_URL)",
      options: { apiKey: openaiKey, baseURL: env.OPENAI_BASE_URL || "https://api.openai.com/v1" },
      models: {},
    },
  };
  // Declare the job's model, so a model newer than opencode's bundled catalogue still resolves.
  const chosen = providers[m.provider];
  if (chosen) chosen.models = { [m.model]: { name: m.model } };
  const spec = `${m.provider}/${m.model}`;
  return {
    $schema: "https://opencode.ai/config.json",
    model: spec,
    // Session titles come from the same model, not a second provider's small model.
    small_model: spec,
    autoupdate: false,
    share: "disabled",
    // opencode's own undo snapshots would copy the workspace into its data dir (and so into ours).
    snapshot: false,
    // Nobody answers prompts in a job: everything the sandbox allows is allowed.
    permission: { edit: "allow", bash: "allow", webfetch: "allow", external_directory: "allow", doom_loop: "allow" },
    provider: providers,
  };
}

/** Directories of one run: data in the workspace, the rest in per-job scratch. */
export interface OpencodeDirs {
  /** `<workspace>/.opencode-state` */
  stateRoot: string;
  /** XDG_DATA_HOME (the session database lives in `opencode/` below it). */
  data: string;
  /** Per-job scratch root for XDG_STATE_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME. */
  scratch: string;
}

/** Directories for `workspace`, with `scratch` a fresh temporary directory. */
export function opencodeDirs(workspace: string, scratch: string): OpencodeDirs {
  const stateRoot = join(workspace, OPENCODE_STATE_DIR);
  return { stateRoot, data: join(stateRoot, "data"), scratch };
}

/** The environment of the opencode process. */
export function opencodeEnv(
  base: NodeJS.ProcessEnv,
  workspace: string,
  dirs: OpencodeDirs,
  config: Record<string, unknown>,
): NodeJS.ProcessEnv {
  return {
    ...base,
    // opencode takes its project directory from PWD before the cwd.
    PWD: workspace,
    // Not the workspace (sandboxd's HOME): opencode treats its home specially (no file
    // index there) and npm, run on its behalf, would leave its cache in the snapshot.
    HOME: join(dirs.scratch, "home"),
    OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
    XDG_DATA_HOME: dirs.data,
    XDG_STATE_HOME: join(dirs.scratch, "state"),
    XDG_CONFIG_HOME: join(dirs.scratch, "config"),
    XDG_CACHE_HOME: join(dirs.scratch, "cache"),
    // Nothing fetched or installed at job time: the model catalogue is the bundled one
    // (the job's model is declared in the config), no default plugins, no LSP downloads.
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
  };
}

/**
 * `opencode run` arguments. The prompt goes on stdin: as positional words opencode
 * would re-quote it and a leading `-` would read as a flag. `--print-logs` at WARN
 * puts model API errors on stderr, where the agent counts them (opencode itself
 * retries 5xx without end).
 */
export function opencodeArgs(spec: string, sessionId: string | null): string[] {
  const args = ["run", "--format", "json", "--model", spec, "--print-logs", "--log-level", "WARN"];
  if (sessionId) args.push("--session", sessionId);
  return args;
}
