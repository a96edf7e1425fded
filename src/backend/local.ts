/**
 * @module backend/local
 * The `local` SandboxBackend: HTTP to sandboxd (container/sandboxd), which runs
 * each project's commands in bubblewrap on the developer's machine. Uses only the
 * global fetch and web streams, so it runs in workerd and in Node alike.
 *
 * sandboxd answers errors as `{ error, code, details? }`; `toAppError` is the one
 * place that turns them into the AppError classes of errors.ts (by code).
 */
import {
  AppError,
  BackendError,
  ConflictError,
  ForbiddenPathError,
  NotFoundError,
  PayloadTooLargeError,
  TimeoutError,
  ValidationError,
} from "../errors";
import type {
  CloneRequest,
  CloneResult,
  ExecEvent,
  ExecRequest,
  ExecResult,
  FileContent,
  FileEntry,
  ProcessInfo,
  ProcessLogs,
  SandboxBackend,
  SandboxInfo,
  StartProcessRequest,
} from "./types";

/** Where sandboxd listens and how to authenticate to it. */
export interface LocalBackendOptions {
  /** Base URL, e.g. http://127.0.0.1:8790. */
  url: string;
  token: string;
  /** Defaults to the global fetch (tests may inject one). */
  fetch?: typeof fetch;
}

/** sandboxd's error body. */
interface ErrorPayload {
  error?: unknown;
  code?: unknown;
  details?: Record<string, unknown>;
}

/** Request context used to build errors that name what the caller asked for. */
interface CallContext {
  path?: string;
}

const UNREACHABLE_HINT =
  "start it with `npm run sandboxd` (or run everything with `npm run dev`) and check SANDBOXD_URL";

/** Maps sandboxd's `{ code }` (and status, for unknown codes) to an AppError. */
export function toAppError(status: number, payload: ErrorPayload, ctx: CallContext = {}): AppError {
  const code = typeof payload.code === "string" ? payload.code : "";
  const message = typeof payload.error === "string" ? payload.error : `sandboxd answered HTTP ${status}`;
  const details = payload.details ?? {};
  switch (code) {
    case "PATH_FORBIDDEN":
      return new ForbiddenPathError(
        typeof details.path === "string" ? details.path : (ctx.path ?? ""),
        "resolves outside the workspace",
      );
    case "TIMEOUT":
      return new TimeoutError(Number(details.timeoutMs ?? 0), {
        stdout: details.stdout ?? "",
        stderr: details.stderr ?? "",
      });
    case "PAYLOAD_TOO_LARGE":
      return new PayloadTooLargeError(
        typeof details.what === "string" ? details.what : "Payload",
        Number(details.limitBytes ?? 0),
      );
    case "CONFLICT":
      return new ConflictError(message);
    case "FILE_NOT_FOUND":
    case "PROCESS_NOT_FOUND":
    case "SANDBOX_NOT_FOUND":
      return new NotFoundError(message, code);
    case "UNAUTHORIZED":
      return new BackendError("sandboxd refused SANDBOXD_TOKEN; the Worker and sandboxd must share it", "permanent");
    case "PERMISSION_DENIED":
      return new AppError(message, code, 403);
    case "ROUTE_NOT_FOUND":
    case "METHOD_NOT_ALLOWED":
      return new BackendError(`sandboxd does not speak this protocol version: ${message}`, "permanent", code);
  }
  if (status >= 400 && status < 500 && code) {
    // VALIDATION_ERROR, INVALID_PATH, INVALID_PROJECT_ID, INVALID_CWD, INVALID_REPO_URL, CLONE_FAILED, …
    return new ValidationError(message, payload.details, code);
  }
  return new BackendError(`sandboxd failed: ${message}`, "permanent", code || "BACKEND_ERROR");
}

/** Splits an NDJSON byte stream into ExecEvents; always ends with one `exit` or `error`. */
export function ndjsonEvents(body: ReadableStream<Uint8Array>): ReadableStream<ExecEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let ended = false;
  const emit = (controller: ReadableStreamDefaultController<ExecEvent>, line: string) => {
    if (!line.trim() || ended) return;
    const event = JSON.parse(line) as ExecEvent;
    controller.enqueue(event);
    if (event.type === "exit" || event.type === "error") ended = true;
  };
  return new ReadableStream<ExecEvent>({
    async pull(controller) {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            buffered += decoder.decode();
            emit(controller, buffered);
            if (!ended) {
              controller.enqueue({
                type: "error",
                code: "BACKEND_UNAVAILABLE",
                message: "sandboxd ended the stream early",
              });
            }
            controller.close();
            return;
          }
          buffered += decoder.decode(value, { stream: true });
          const lines = buffered.split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) emit(controller, line);
          if (lines.length > 0) return;
        }
      } catch (err) {
        if (!ended) {
          const message = err instanceof Error ? err.message : String(err);
          controller.enqueue({
            type: "error",
            code: "BACKEND_UNAVAILABLE",
            message: `stream from sandboxd broke: ${message}`,
          });
        }
        controller.close();
      }
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  });
}

/** A SandboxBackend over sandboxd's HTTP API. */
export function createLocalBackend(opts: LocalBackendOptions): SandboxBackend {
  const base = opts.url.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function call(
    method: string,
    projectId: string,
    sub: string,
    init: { json?: unknown; bytes?: Uint8Array; query?: Record<string, string>; signal?: AbortSignal } = {},
    ctx: CallContext = {},
  ): Promise<Response> {
    const qs = init.query ? `?${new URLSearchParams(init.query).toString()}` : "";
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}` };
    let body: BodyInit | undefined;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.bytes !== undefined) {
      headers["content-type"] = "application/octet-stream";
      body = init.bytes;
    }
    let res: Response;
    try {
      res = await doFetch(`${base}/projects/${encodeURIComponent(projectId)}${sub}${qs}`, {
        method,
        headers,
        body,
        signal: init.signal,
      });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new BackendError(`sandboxd is not reachable at ${base} (${why}); ${UNREACHABLE_HINT}`);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      let payload: ErrorPayload = {};
      try {
        payload = JSON.parse(text) as ErrorPayload;
      } catch {
        payload = { error: text.slice(0, 500) || res.statusText };
      }
      throw toAppError(res.status, payload, ctx);
    }
    return res;
  }

  async function json<T>(...args: Parameters<typeof call>): Promise<T> {
    const res = await call(...args);
    return (await res.json()) as T;
  }

  async function stream(res: Response): Promise<ReadableStream<ExecEvent>> {
    if (!res.body) throw new BackendError("sandboxd sent no stream body", "permanent", "BACKEND_ERROR");
    return ndjsonEvents(res.body);
  }

  const info = (r: { projectId: string; isolated: boolean }): SandboxInfo => ({
    projectId: r.projectId,
    status: "ready",
    backend: "local",
    isolated: r.isolated,
  });

  return {
    kind: "local",
    capabilities: { confinesSymlinks: true },

    ensure: async (id) => {
      const r = await json<{ projectId: string; isolated: boolean; initialized: boolean; started: boolean }>(
        "POST",
        id,
        "",
      );
      return { ...info(r), initialized: r.initialized === true, started: r.started === true };
    },
    status: async (id) => info(await json("GET", id, "")),
    killAllProcesses: async (id, keep = []) =>
      (await json<{ killed: number }>("POST", id, "/kill-all", { query: { keep: keep.join(",") } })).killed,
    destroy: async (id) => {
      await call("DELETE", id, "");
    },

    exec: async (id, req: ExecRequest): Promise<ExecResult> => {
      const r = await json<ExecResult>("POST", id, "/exec", { json: req }, { path: req.cwd });
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, durationMs: r.durationMs };
    },
    execStream: async (id, req, signal) =>
      stream(await call("POST", id, "/exec/stream", { json: req, signal }, { path: req.cwd })),

    readFile: async (id, path, maxBytes): Promise<FileContent> => {
      const res = await call("GET", id, "/files", { query: { path, maxBytes: String(maxBytes) } }, { path });
      if (!res.body) throw new BackendError("sandboxd sent no file body", "permanent", "BACKEND_ERROR");
      return { body: res.body, size: Number(res.headers.get("content-length") ?? 0) };
    },
    writeFile: (id, path, bytes) => json("PUT", id, "/files", { query: { path }, bytes }, { path }),
    deletePath: async (id, path) => {
      await call("DELETE", id, "/files", { query: { path } }, { path });
    },
    list: async (id, path, { recursive }) =>
      (
        await json<{ entries: FileEntry[] }>(
          "GET",
          id,
          "/list",
          { query: { path, recursive: String(recursive) } },
          { path },
        )
      ).entries,

    clone: (id, req: CloneRequest) => json<CloneResult>("POST", id, "/clone", { json: req }, { path: req.directory }),

    startProcess: (id, req: StartProcessRequest) =>
      json<ProcessInfo>("POST", id, "/processes", { json: req }, { path: req.cwd }),
    listProcesses: async (id) => (await json<{ processes: ProcessInfo[] }>("GET", id, "/processes")).processes,
    getProcess: (id, pid) => json<ProcessInfo>("GET", id, `/processes/${encodeURIComponent(pid)}`),
    killProcess: (id, pid) => json<ProcessInfo>("DELETE", id, `/processes/${encodeURIComponent(pid)}`),
    processLogs: async (id, pid): Promise<ProcessLogs> => {
      const r = await json<ProcessLogs>("GET", id, `/processes/${encodeURIComponent(pid)}/logs`);
      return { stdout: r.stdout, stderr: r.stderr };
    },
    followProcess: async (id, pid, signal) =>
      stream(await call("GET", id, `/processes/${encodeURIComponent(pid)}/follow`, { signal })),
  };
}
