/**
 * @module client
 * The API as typed methods over any way of sending a Request: `sandboxClient(send)`.
 * Two transports use it — `httpClient` (fetch, or a service binding's Fetcher, with the
 * bearer token; exported as `sandbox-worker/client`) and the `SandboxApi` RPC entrypoint
 * (rpc.ts: the routes run in-isolate, the binding is the credential) — so both offer the
 * same methods with the same types, and the HTTP API stays the one contract.
 *
 * A refusal throws `SandboxApiError` with the API's `code`, `status` and `details`.
 * Streams (a streamed exec, a job's events) arrive as NDJSON bytes, one `{type, …data}`
 * object a line (what RPC can carry); `readEvents` turns them into objects. What each
 * method resolves to is the answer's `data`, typed from the response schemas the
 * OpenAPI document is generated from.
 */
import type { z } from "zod";
import type { ExecEvent, ExecResult, PreviewPort, ProcessInfo, SandboxSettingsInput } from "./backend/types";
import type * as R from "./response-schemas";
import type { Job, JobEvent } from "./shared/job-format";

/** The `data` an answer carries, as the OpenAPI document describes it (src/response-schemas.ts). */
type Data<S extends z.ZodType> = z.output<S>;

/** Sends one request to the API; the host part of its URL is ignored by the Worker. */
export type Send = (request: Request) => Promise<Response>;

/** What exec takes (POST /sandboxes/:id/exec). */
export interface ExecInput {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** What POST /jobs takes (see the README's job fields). */
export type JobInput = Record<string, unknown> & { projectId: string; prompt: string };

/** The API's refusal: its stable code, HTTP status and details. */
export class SandboxApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, status: number, details?: Record<string, unknown>) {
    super(message);
    this.name = "SandboxApiError";
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

type Query = Record<string, string | number | boolean | undefined>;

function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Path segments of an absolute sandbox path, each percent-encoded (as the files routes read them). */
const encodePath = (path: string) => path.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/");
const enc = encodeURIComponent;

/** SSE bytes → NDJSON bytes of `{type, ...data}` (the `event:` name as `type`). */
export function sseToNdjson(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
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

/** The events of an NDJSON stream from execStream or followJob, as objects. */
export async function* readEvents<T = ExecEvent | (JobEvent["data"] & { type: string })>(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<T> {
  let buffer = "";
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) yield JSON.parse(line) as T;
  }
  if (buffer.trim()) yield JSON.parse(buffer) as T;
}

/** Every method of the API; `sandboxClient` makes one over a transport. */
export interface SandboxClient {
  createSandbox(projectId: string, settings?: SandboxSettingsInput): Promise<Data<typeof R.CreatedSandboxSchema>>;
  getSandbox(projectId: string): Promise<Data<typeof R.SandboxStatusSchema>>;
  listSandboxes(query?: {
    state?: "active" | "destroyed";
    limit?: number;
    cursor?: string;
  }): Promise<Data<typeof R.SandboxPageSchema>>;
  /** Cleanup (kill the user's processes), or with `destroy` snapshot then tear down. */
  deleteSandbox(
    projectId: string,
    opts?: { destroy?: boolean; snapshot?: boolean },
  ): Promise<Data<typeof R.DeleteSandboxSchema>>;
  exec(projectId: string, input: ExecInput): Promise<ExecResult>;
  /** NDJSON events: start, stdout, stderr, then exit or error. */
  execStream(projectId: string, input: ExecInput): Promise<ReadableStream<Uint8Array>>;
  readFile(
    projectId: string,
    path: string,
    opts?: { encoding?: "utf8" | "base64" },
  ): Promise<Data<typeof R.FileContentSchema>>;
  writeFile(
    projectId: string,
    path: string,
    content: string,
    opts?: { encoding?: "utf8" | "base64" },
  ): Promise<Data<typeof R.FileWrittenSchema>>;
  deletePath(projectId: string, path: string): Promise<Data<typeof R.PathDeletedSchema>>;
  listFiles(projectId: string, opts?: { path?: string; recursive?: boolean }): Promise<Data<typeof R.ListingSchema>>;
  startProcess(projectId: string, input: Omit<ExecInput, "timeoutMs">): Promise<ProcessInfo>;
  listProcesses(projectId: string): Promise<Data<typeof R.ProcessListSchema>>;
  getProcess(projectId: string, id: string): Promise<ProcessInfo>;
  killProcess(projectId: string, id: string): Promise<ProcessInfo>;
  /** The output buffered so far (`format=json`). */
  processLogs(projectId: string, id: string): Promise<Data<typeof R.ProcessLogsPageSchema>>;
  /** A preview URL for a server on `port` in the sandbox (PREVIEW_HOSTNAME names its domain). */
  exposePort(projectId: string, input: { port: number; name?: string }): Promise<PreviewPort>;
  listPorts(projectId: string): Promise<Data<typeof R.PortListSchema>>;
  unexposePort(projectId: string, port: number): Promise<Data<typeof R.PortRevokedSchema>>;
  snapshot(projectId: string): Promise<Data<typeof R.SnapshotTakenSchema>>;
  listSnapshots(projectId: string): Promise<Data<typeof R.SnapshotListSchema>>;
  restore(projectId: string, snapshotId?: string): Promise<Data<typeof R.RestoredSchema>>;
  createJob(input: JobInput, idempotencyKey?: string): Promise<Job>;
  getJob(id: string): Promise<Job>;
  listJobs(query?: {
    projectId?: string;
    status?: Job["status"];
    limit?: number;
    cursor?: string;
  }): Promise<Data<typeof R.JobPageSchema>>;
  cancelJob(id: string): Promise<Job>;
  /** One page of stored events after `after`. */
  jobEvents(id: string, opts?: { after?: number; limit?: number }): Promise<Data<typeof R.JobEventsPageSchema>>;
  /** NDJSON: the stored events, then the live ones until the job ends (an `end` event). */
  followJob(id: string, opts?: { after?: number }): Promise<ReadableStream<Uint8Array>>;
}

/** The API's methods over `send`. */
export function sandboxClient(send: Send): SandboxClient {
  const request = async (method: string, path: string, json?: unknown, headers?: HeadersInit): Promise<Response> => {
    const h = new Headers(headers);
    if (json !== undefined) h.set("content-type", "application/json");
    const body = json === undefined ? undefined : JSON.stringify(json);
    return await send(new Request(`http://sandbox-worker${path}`, { method, headers: h, body }));
  };
  const refusal = async (res: Response): Promise<SandboxApiError> => {
    const body = (await res.json().catch(() => ({}))) as {
      error?: string;
      code?: string;
      details?: Record<string, unknown>;
    };
    return new SandboxApiError(body.code ?? "HTTP_ERROR", body.error ?? res.statusText, res.status, body.details);
  };
  const call = async <T>(method: string, path: string, json?: unknown, headers?: HeadersInit): Promise<T> => {
    const res = await request(method, path, json, headers);
    if (!res.ok) throw await refusal(res);
    return ((await res.json()) as { data: T }).data;
  };
  const stream = async (method: string, path: string, json?: unknown): Promise<ReadableStream<Uint8Array>> => {
    const res = await request(method, path, json, { accept: "text/event-stream" });
    if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      throw await refusal(res);
    }
    return sseToNdjson(res.body);
  };
  const sandbox = (id: string) => `/sandboxes/${enc(id)}`;

  return {
    createSandbox: (id, settings) => call("POST", sandbox(id), settings),
    getSandbox: (id) => call("GET", sandbox(id)),
    listSandboxes: (query = {}) => call("GET", withQuery("/sandboxes", query)),
    deleteSandbox: (id, opts = {}) => call("DELETE", withQuery(sandbox(id), opts)),
    exec: (id, input) => call("POST", `${sandbox(id)}/exec`, input),
    execStream: (id, input) => stream("POST", `${sandbox(id)}/exec`, { ...input, stream: true }),
    readFile: (id, path, opts = {}) => call("GET", withQuery(`${sandbox(id)}/files/${encodePath(path)}`, opts)),
    writeFile: (id, path, content, opts = {}) =>
      call("PUT", `${sandbox(id)}/files/${encodePath(path)}`, { content, ...opts }),
    deletePath: (id, path) => call("DELETE", `${sandbox(id)}/files/${encodePath(path)}`),
    listFiles: (id, opts = {}) => call("GET", withQuery(`${sandbox(id)}/ls`, opts)),
    startProcess: (id, input) => call("POST", `${sandbox(id)}/processes`, input),
    listProcesses: (id) => call("GET", `${sandbox(id)}/processes`),
    getProcess: (id, pid) => call("GET", `${sandbox(id)}/processes/${enc(pid)}`),
    killProcess: (id, pid) => call("DELETE", `${sandbox(id)}/processes/${enc(pid)}`),
    processLogs: (id, pid) => call("GET", `${sandbox(id)}/processes/${enc(pid)}/logs?format=json`),
    exposePort: (id, input) => call("POST", `${sandbox(id)}/ports`, input),
    listPorts: (id) => call("GET", `${sandbox(id)}/ports`),
    unexposePort: (id, port) => call("DELETE", `${sandbox(id)}/ports/${port}`),
    snapshot: (id) => call("POST", `${sandbox(id)}/snapshots`),
    listSnapshots: (id) => call("GET", `${sandbox(id)}/snapshots`),
    restore: (id, snapshotId) => call("POST", `${sandbox(id)}/restore`, snapshotId ? { snapshotId } : {}),
    createJob: (input, key) => call("POST", "/jobs", input, key ? { "idempotency-key": key } : {}),
    getJob: (id) => call("GET", `/jobs/${enc(id)}`),
    listJobs: (query = {}) => call("GET", withQuery("/jobs", query)),
    cancelJob: (id) => call("POST", `/jobs/${enc(id)}/cancel`),
    jobEvents: (id, opts = {}) => call("GET", withQuery(`/jobs/${enc(id)}/events`, { format: "json", ...opts })),
    followJob: (id, opts = {}) => stream("GET", withQuery(`/jobs/${enc(id)}/events`, opts)),
  };
}

/**
 * The client over HTTP: `baseUrl` (e.g. http://127.0.0.1:8787) and the API token, through
 * global fetch or a service binding's `fetcher` (whose host part is ignored).
 */
export function httpClient(opts: { baseUrl?: string; token: string; fetcher?: { fetch: Send } }): SandboxClient {
  const base = (opts.baseUrl ?? "http://sandbox-worker").replace(/\/+$/, "");
  return sandboxClient(async (req) => {
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.set("authorization", `Bearer ${opts.token}`);
    const outgoing = new Request(`${base}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body,
      // @ts-expect-error: Node's fetch needs `duplex` for a streamed body; workerd ignores it.
      duplex: "half",
    });
    return opts.fetcher ? await opts.fetcher.fetch(outgoing) : await fetch(outgoing);
  });
}
