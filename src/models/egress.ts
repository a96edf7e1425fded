/**
 * @module models/egress
 * Model API keys stay in the Worker. Two halves:
 * - `modelRunnerEnv`: the model variables a job's runner gets: base URLs on
 *   MODELS_INTERNAL_HOST and placeholder keys. Its requests reach the Worker through
 *   the Sandbox's outbound interception on Cloudflare, through the jail host locally
 *   (src/shared/egress.ts); either way no key enters a sandbox.
 * - `forwardModelRequest`: the Worker's answer for MODELS_INTERNAL_HOST —
 *   `/anthropic/*` to ANTHROPIC_BASE_URL with `x-api-key`, `/openai/*` to
 *   OPENAI_BASE_URL with `Authorization: Bearer`; whatever credentials the caller
 *   sent are dropped first, so the sandbox can neither learn nor override a key.
 */
import type { Config } from "../config";
import { AppError, NotFoundError } from "../errors";
import { errorResponse } from "../http/envelope";
import {
  DEFAULT_ANTHROPIC_BASE_URL,
  DEFAULT_OPENAI_BASE_URL,
  EGRESS_KEY_PLACEHOLDER,
  MODEL_ENV,
  MODEL_ROUTES,
  MODELS_INTERNAL_HOST,
  MODELS_INTERNAL_ORIGIN,
} from "../shared/model-egress";

/** The part of Config this module reads. */
export type ModelConfig = Pick<
  Config,
  "ANTHROPIC_API_KEY" | "ANTHROPIC_BASE_URL" | "OPENAI_API_KEY" | "OPENAI_BASE_URL"
>;

/** Request headers that carry credentials or hop-by-hop state; never forwarded from the container. */
const STRIPPED_REQUEST_HEADERS = [
  "authorization",
  "x-api-key",
  "proxy-authorization",
  "cookie",
  "host",
  "connection",
  "keep-alive",
  "transfer-encoding",
];

/** Environment of `runner run-job` for the model APIs (see the module comment). */
export function modelRunnerEnv(): Record<string, string> {
  return {
    [MODEL_ENV.anthropicBaseUrl]: `${MODELS_INTERNAL_ORIGIN}${MODEL_ROUTES.anthropic}`,
    [MODEL_ENV.openaiBaseUrl]: `${MODELS_INTERNAL_ORIGIN}${MODEL_ROUTES.openai}`,
    // SDKs refuse to start without a key; the real one is added on egress.
    [MODEL_ENV.anthropicKey]: EGRESS_KEY_PLACEHOLDER,
    [MODEL_ENV.openaiKey]: EGRESS_KEY_PLACEHOLDER,
  };
}

/** Joins an upstream base URL and the rest of the intercepted path, keeping the query. */
function upstreamUrl(base: string, rest: string, search: string): string {
  return `${base.replace(/\/+$/, "")}${rest}${search}`;
}

/**
 * Forwards one request the container sent to MODELS_INTERNAL_HOST. `fetchFn` is the
 * upstream (tests pass a stand-in). The response streams back unchanged (SSE included).
 */
export async function forwardModelRequest(
  request: Request,
  config: ModelConfig,
  fetchFn: typeof fetch = fetch,
): Promise<Response> {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const h of STRIPPED_REQUEST_HEADERS) headers.delete(h);
  let target: string;
  const under = (prefix: string) => url.pathname === prefix || url.pathname.startsWith(`${prefix}/`);
  if (under(MODEL_ROUTES.anthropic)) {
    if (!config.ANTHROPIC_API_KEY) {
      return errorResponse(
        new AppError("ANTHROPIC_API_KEY is not set: add it as a Worker secret", "MODEL_KEY_MISSING"),
      );
    }
    headers.set("x-api-key", config.ANTHROPIC_API_KEY);
    const rest = url.pathname.slice(MODEL_ROUTES.anthropic.length);
    target = upstreamUrl(config.ANTHROPIC_BASE_URL ?? DEFAULT_ANTHROPIC_BASE_URL, rest, url.search);
  } else if (under(MODEL_ROUTES.openai)) {
    if (!config.OPENAI_API_KEY) {
      return errorResponse(new AppError("OPENAI_API_KEY is not set: add it as a Worker secret", "MODEL_KEY_MISSING"));
    }
    headers.set("authorization", `Bearer ${config.OPENAI_API_KEY}`);
    const rest = url.pathname.slice(MODEL_ROUTES.openai.length);
    target = upstreamUrl(config.OPENAI_BASE_URL ?? DEFAULT_OPENAI_BASE_URL, rest, url.search);
  } else {
    return errorResponse(
      new NotFoundError(
        `${MODELS_INTERNAL_HOST} serves only ${MODEL_ROUTES.anthropic}/* and ${MODEL_ROUTES.openai}/*`,
        "ROUTE_NOT_FOUND",
      ),
    );
  }
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const upstream = await fetchFn(target, {
    method: request.method,
    headers,
    body: hasBody ? request.body : null,
    redirect: "manual",
  });
  return new Response(upstream.body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: upstream.headers,
  });
}
