/**
 * @module test/worker/support/http
 * Helpers for driving the Worker under test: authenticated requests through the
 * real entry (`exports.default.fetch`) and an SSE parser for streamed answers.
 * Every answer `api()` receives is checked against the OpenAPI document the Worker
 * serves (test/support/openapi-check.ts), and so is every event `readSse()` reads from such
 * an answer: an answer the document does not describe fails the test that got it.
 */
import { exports } from "cloudflare:workers";
import { type Matched, OpenApiChecker, type OpenApiDoc } from "../../support/openapi-check.ts";

/** The token vitest.config.ts gives the Worker under test. */
export const TOKEN = "test-api-token";

/** One server-sent event as the client sees it. */
export interface SseEvent {
  event: string;
  id?: string;
  data: Record<string, unknown>;
}

/** A request to the Worker under test, with the bearer token unless `auth: false`. */
export async function api(
  path: string,
  init: RequestInit & { json?: unknown; auth?: boolean } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.auth !== false && !headers.has("authorization")) headers.set("authorization", `Bearer ${TOKEN}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const request = new Request(`http://sandbox.test${path}`, { ...init, headers, body });
  const res = await exports.default.fetch(request);
  await checkAgainstDocument(request, res);
  return res;
}

let checker: Promise<OpenApiChecker> | undefined;
/** The checker over the document the Worker under test serves at /openapi.json. */
export async function openApiChecker(): Promise<OpenApiChecker> {
  checker ??= (async () => {
    const res = await exports.default.fetch(new Request("http://sandbox.test/openapi.json"));
    if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
    return new OpenApiChecker((await res.json()) as OpenApiDoc);
  })();
  return await checker;
}

/** Streams whose events readSse() checks, with what they were matched to. */
const streams = new WeakMap<Response, Matched>();

/**
 * Throws when `res`, the answer to `req`, is not what the OpenAPI document says that
 * operation answers (status, media type, JSON body). Reads a clone: `res` stays unread.
 */
export async function checkAgainstDocument(req: Request, res: Response): Promise<void> {
  const contentType = res.headers.get("content-type");
  const path = new URL(req.url).pathname;
  let body: unknown;
  if ((contentType ?? "").startsWith("application/json") && req.method !== "HEAD") {
    const text = await res.clone().text();
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`${req.method} ${path} → ${res.status}: the JSON body does not parse: ${text.slice(0, 200)}`);
    }
  }
  const { problems, matched } = (await openApiChecker()).check(
    { method: req.method, path },
    { status: res.status, contentType, body },
  );
  if (problems.length > 0) throw new Error(`The answer does not match the OpenAPI document:\n${problems.join("\n")}`);
  if (matched?.events) streams.set(res, matched);
}

/** `api()` and the parsed envelope. */
export async function apiJson<T = Record<string, unknown>>(
  path: string,
  init: RequestInit & { json?: unknown; auth?: boolean } = {},
): Promise<{ status: number; body: { success: boolean; data: T; error?: string; code?: string } }> {
  const res = await api(path, init);
  return { status: res.status, body: await res.json() };
}

/** Read a whole SSE response into events. */
export async function readSse(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  const events: SseEvent[] = [];
  for (const block of text.split(/\n\n/)) {
    if (!block.trim()) continue;
    let event = "message";
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("id:")) id = line.slice(3).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    // A block of only comments (": ping", the heartbeat) is no event.
    if (event === "message" && id === undefined && data.length === 0) continue;
    events.push({ event, id, data: data.length ? JSON.parse(data.join("\n")) : {} });
  }
  const matched = streams.get(res);
  if (matched) {
    const checker = await openApiChecker();
    const problems = events.flatMap((e) => checker.checkEvent(matched, { type: e.event, ...e.data }));
    if (problems.length > 0) throw new Error(`Events not in the OpenAPI document:\n${problems.join("\n")}`);
  }
  return events;
}

let counter = 0;
/** A project id unique to this run, so tests never share a workspace. */
export function uniqueProject(prefix = "t"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

/** Create a fresh sandbox through the API and return its project id. */
export async function createProject(prefix: string): Promise<string> {
  const projectId = uniqueProject(prefix);
  const { status, body } = await apiJson(`/sandboxes/${projectId}`, { method: "POST" });
  if (status !== 200) throw new Error(`creating ${projectId} failed: ${status} ${JSON.stringify(body)}`);
  return projectId;
}
