/**
 * @module git-host/github-api
 * One call to the GitHub REST API with GitHub's headers, retried (bounded) when
 * GitHub says to: 5xx, 429, and 403 rate limits (`x-ratelimit-remaining: 0` or a
 * `Retry-After`). A `Retry-After` is honoured up to MAX_WAIT_MS; a longer one, or
 * a reset further away, ends the retries so the job fails with GitHub's answer
 * rather than holding its lease.
 */

/** Attempts per call, the first included. */
export const MAX_ATTEMPTS = 4;
/** The longest wait between two attempts: three of them stay well inside the runner's 60 s request timeout. */
export const MAX_WAIT_MS = 10_000;

/** What a call answered: status, parsed JSON (null when none) and headers. */
export interface GitHubAnswer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** Options of githubCall (tests shorten waits; `fetcher` defaults to fetch). */
export interface CallOptions {
  body?: unknown;
  sleep?: (ms: number) => Promise<void>;
  fetcher?: typeof fetch;
  baseDelayMs?: number;
}

/** How long to wait before retrying `res`, or null when it is not worth retrying. */
export function retryDelay(
  res: Pick<Response, "status" | "headers">,
  attempt: number,
  baseDelayMs = 500,
): number | null {
  const retryAfter = res.headers.get("retry-after");
  const remaining = res.headers.get("x-ratelimit-remaining");
  const rateLimited = res.status === 429 || (res.status === 403 && (remaining === "0" || retryAfter !== null));
  if (!rateLimited && res.status < 500) return null;
  if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
    const ms = Number(retryAfter) * 1000;
    return ms <= MAX_WAIT_MS ? ms : null;
  }
  const reset = Number(res.headers.get("x-ratelimit-reset"));
  if (rateLimited && remaining === "0" && Number.isFinite(reset) && reset > 0) {
    const ms = reset * 1000 - Date.now();
    return ms <= MAX_WAIT_MS ? Math.max(ms, 0) : null;
  }
  return Math.min(MAX_WAIT_MS, baseDelayMs * 2 ** (attempt - 1));
}

/** Calls `method apiUrl+path` with `authorization`; retries as the module says. */
export async function githubCall(
  apiUrl: string,
  method: string,
  path: string,
  authorization: string,
  opts: CallOptions = {},
): Promise<GitHubAnswer> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const fetcher = opts.fetcher ?? fetch;
  for (let attempt = 1; ; attempt++) {
    const res = await fetcher(`${apiUrl.replace(/\/+$/, "")}${path}`, {
      method,
      headers: {
        accept: "application/vnd.github+json",
        authorization,
        "user-agent": "sandbox-worker",
        "x-github-api-version": "2022-11-28",
        ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const wait = attempt < MAX_ATTEMPTS ? retryDelay(res, attempt, opts.baseDelayMs) : null;
    if (wait === null) {
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = { message: text.slice(0, 500) };
      }
      return { status: res.status, body, headers: res.headers };
    }
    await res.body?.cancel();
    await sleep(wait);
  }
}

/** GitHub's own words in an error answer: its message and each error's message or code. */
export function githubMessage(answer: GitHubAnswer): string {
  const b = (answer.body ?? {}) as { message?: unknown; errors?: Array<{ message?: unknown; code?: unknown }> };
  const parts = [typeof b.message === "string" ? b.message : `HTTP ${answer.status}`];
  for (const e of Array.isArray(b.errors) ? b.errors : []) {
    const m = typeof e.message === "string" ? e.message : typeof e.code === "string" ? e.code : null;
    if (m) parts.push(m);
  }
  return `${answer.status} ${parts.join(": ")}`.slice(0, 2000);
}
