/**
 * @module rpc
 * `SandboxApi`: the API as typed methods for other Workers, over a service binding
 * to this named entrypoint (`{"binding": "SANDBOXES", "service": "sandbox-worker",
 * "entrypoint": "SandboxApi"}`). The binding is the credential: no bearer token.
 *
 * Every method is the HTTP route of the same name, run through the same Hono app in
 * this isolate (no network hop): the same validation, ensure step, limits and codes.
 * A refusal throws an Error whose message starts with the code (`"SANDBOX_NOT_FOUND:
 * …"`): Workers RPC keeps an error's message across the binding, not its fields.
 * Streams cross RPC as bytes, so a streamed exec or a job's events arrive as NDJSON:
 * one `{"type", …data}` object a line, the SSE events of the HTTP API.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type {
  ExecResult,
  FileEntry,
  ProcessInfo,
  ProcessLogs,
  SandboxInfo,
  SandboxSettings,
  SandboxSettingsInput,
} from "./backend/types";
import type { SandboxListing } from "./sandboxes/registry";
import type { Job, JobEvent } from "./shared/job-format";
import { trustedApp } from "./worker-app";

/** What exec takes (POST /sandboxes/:id/exec). */
export interface ExecInput {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** What POST /jobs takes (see the README's job fields). */
export type JobInput = Record<string, unknown> & { projectId: string; prompt: string };

type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Path segments of an absolute sandbox path, each percent-encoded (as the files routes read them). */
const encodePath = (path: string) => path.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/");

/** SSE bytes → NDJSON bytes of `{type, ...data}` (the `event:` name as `type`). */
function sseToNdjson(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let buffer = "";
  const encoder = new TextEncoder();
  const toLine = (block: string): string | null => {
    let type = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (data.length === 0) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      parsed = { data: data.join("\n") };
    }
    return `${JSON.stringify({ type, ...(parsed as object) })}\n`;
  };
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, Uint8Array>({
      transform(chunk, controller) {
        buffer += chunk;
        const blocks = buffer.split("\n\n");
        buffer = blocks.pop() ?? "";
        for (const block of blocks) {
          const line = toLine(block);
          if (line) controller.enqueue(encoder.encode(line));
        }
      },
      flush(controller) {
        const line = buffer.trim() ? toLine(buffer) : null;
        if (line) controller.enqueue(encoder.encode(line));
      },
    }),
  );
}

export class SandboxApi extends WorkerEntrypoint<Env> {
  /** One request through the app; the envelope's data, or an Error "CODE: message". */
  async #call<T>(method: string, path: string, init: { json?: unknown; headers?: HeadersInit } = {}): Promise<T> {
    const res = await this.#send(method, path, init);
    const body = (await res.json()) as { success: boolean; data: T; error?: string; code?: string };
    if (!body.success) throw new Error(`${body.code ?? "HTTP_ERROR"}: ${body.error ?? res.statusText}`);
    return body.data;
  }

  async #send(method: string, path: string, init: { json?: unknown; headers?: HeadersInit } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (init.json !== undefined) headers.set("content-type", "application/json");
    const request = new Request(`http://sandbox-worker.rpc${path}`, {
      method,
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    return await trustedApp(this.env).fetch(request, this.env, this.ctx);
  }

  /** A streamed route as NDJSON, or an Error "CODE: message" when it did not start. */
  async #stream(method: string, path: string, json?: unknown): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#send(method, path, { json, headers: { accept: "text/event-stream" } });
    if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream") || !res.body) {
      const body = (await res.json()) as { error?: string; code?: string };
      throw new Error(`${body.code ?? "HTTP_ERROR"}: ${body.error ?? res.statusText}`);
    }
    return sseToNdjson(res.body);
  }

  // Sandboxes
  /** Create (or get) the sandbox; `settings` as POST /sandboxes/:id takes them. */
  createSandbox(
    projectId: string,
    settings?: SandboxSettingsInput,
  ): Promise<SandboxInfo & { restoredSnapshot: string | null; settings: SandboxSettings }> {
    return this.#call("POST", `/sandboxes/${projectId}`, settings ? { json: settings } : {});
  }
  getSandbox(projectId: string): Promise<SandboxInfo & { settings: SandboxSettings }> {
    return this.#call("GET", `/sandboxes/${projectId}`);
  }
  listSandboxes(
    query: { state?: "active" | "destroyed"; limit?: number; cursor?: string } = {},
  ): Promise<{ sandboxes: SandboxListing[]; nextCursor: string | null }> {
    return this.#call("GET", withQuery("/sandboxes", query));
  }
  /** Cleanup (kill the user's processes), or with `destroy` snapshot then tear down. */
  deleteSandbox(
    projectId: string,
    opts: { destroy?: boolean; snapshot?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    return this.#call("DELETE", withQuery(`/sandboxes/${projectId}`, opts));
  }

  // Commands
  exec(projectId: string, input: ExecInput): Promise<ExecResult> {
    return this.#call("POST", `/sandboxes/${projectId}/exec`, { json: input });
  }
  /** NDJSON events: start, stdout, stderr, then exit or error. */
  execStream(projectId: string, input: ExecInput): Promise<ReadableStream<Uint8Array>> {
    return this.#stream("POST", `/sandboxes/${projectId}/exec`, { ...input, stream: true });
  }

  // Files
  readFile(
    projectId: string,
    path: string,
    opts: { encoding?: "utf8" | "base64" } = {},
  ): Promise<{ path: string; content: string; encoding: "utf8" | "base64"; size: number }> {
    return this.#call("GET", withQuery(`/sandboxes/${projectId}/files/${encodePath(path)}`, opts));
  }
  writeFile(
    projectId: string,
    path: string,
    content: string,
    opts: { encoding?: "utf8" | "base64" } = {},
  ): Promise<{ path: string; size: number }> {
    return this.#call("PUT", `/sandboxes/${projectId}/files/${encodePath(path)}`, { json: { content, ...opts } });
  }
  deletePath(projectId: string, path: string): Promise<{ path: string; deleted: boolean }> {
    return this.#call("DELETE", `/sandboxes/${projectId}/files/${encodePath(path)}`);
  }
  listFiles(
    projectId: string,
    opts: { path?: string; recursive?: boolean } = {},
  ): Promise<{ path: string; count: number; entries: FileEntry[] }> {
    return this.#call("GET", withQuery(`/sandboxes/${projectId}/ls`, opts));
  }

  // Background processes
  startProcess(projectId: string, input: Omit<ExecInput, "timeoutMs">): Promise<ProcessInfo> {
    return this.#call("POST", `/sandboxes/${projectId}/processes`, { json: input });
  }
  listProcesses(projectId: string): Promise<ProcessInfo[]> {
    return this.#call("GET", `/sandboxes/${projectId}/processes`);
  }
  getProcess(projectId: string, id: string): Promise<ProcessInfo> {
    return this.#call("GET", `/sandboxes/${projectId}/processes/${encodeURIComponent(id)}`);
  }
  killProcess(projectId: string, id: string): Promise<ProcessInfo> {
    return this.#call("DELETE", `/sandboxes/${projectId}/processes/${encodeURIComponent(id)}`);
  }
  processLogs(projectId: string, id: string): Promise<ProcessLogs> {
    return this.#call("GET", `/sandboxes/${projectId}/processes/${encodeURIComponent(id)}/logs`);
  }

  // Snapshots
  snapshot(projectId: string): Promise<Record<string, unknown>> {
    return this.#call("POST", `/sandboxes/${projectId}/snapshots`);
  }
  listSnapshots(projectId: string): Promise<Record<string, unknown>> {
    return this.#call("GET", `/sandboxes/${projectId}/snapshots`);
  }
  restore(projectId: string, snapshotId?: string): Promise<Record<string, unknown>> {
    return this.#call("POST", `/sandboxes/${projectId}/restore`, { json: snapshotId ? { snapshotId } : {} });
  }

  // Jobs
  createJob(input: JobInput, idempotencyKey?: string): Promise<Job> {
    const headers: HeadersInit = idempotencyKey ? { "idempotency-key": idempotencyKey } : {};
    return this.#call("POST", "/jobs", { json: input, headers });
  }
  getJob(id: string): Promise<Job> {
    return this.#call("GET", `/jobs/${encodeURIComponent(id)}`);
  }
  listJobs(
    query: { projectId?: string; status?: Job["status"]; limit?: number; cursor?: string } = {},
  ): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    return this.#call("GET", withQuery("/jobs", query));
  }
  cancelJob(id: string): Promise<Job> {
    return this.#call("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
  }
  /** One page of stored events after `after`. */
  jobEvents(
    id: string,
    opts: { after?: number; limit?: number } = {},
  ): Promise<{ events: JobEvent[]; lastSeq: number; hasMore: boolean; status: Job["status"] }> {
    return this.#call("GET", withQuery(`/jobs/${encodeURIComponent(id)}/events`, { format: "json", ...opts }));
  }
  /** NDJSON: the stored events, then the live ones until the job ends (an `end` event). */
  followJob(id: string, opts: { after?: number } = {}): Promise<ReadableStream<Uint8Array>> {
    return this.#stream("GET", withQuery(`/jobs/${encodeURIComponent(id)}/events`, opts));
  }
}
