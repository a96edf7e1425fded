/**
 * @module test/worker/support/http
 * Helpers for driving the Worker under test: authenticated requests through the
 * real entry (`exports.default.fetch`) and an SSE parser for streamed answers.
 */
import { exports } from "cloudflare:workers";

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
  return await exports.default.fetch(new Request(`http://sandbox.test${path}`, { ...init, headers, body }));
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
