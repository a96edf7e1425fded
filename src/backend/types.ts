/**
 * @module backend/types
 * The narrow interface every route uses to reach a project's sandbox. One adapter
 * implements it, `cloudflare` (the Sandbox Durable Object and its container, through
 * @cloudflare/sandbox), whether the container is Cloudflare's or a local jail; tests
 * wrap it to stand in for a failure.
 *
 * Contract for the adapter:
 * - Paths given to it are already normalised, absolute and inside the workspace root
 *   (see paths.ts); a symlink that leads elsewhere resolves inside the container, which
 *   is the boundary.
 * - Failures are thrown as AppError subclasses from errors.ts (FILE_NOT_FOUND,
 *   PROCESS_NOT_FOUND, TIMEOUT, PAYLOAD_TOO_LARGE, CONFLICT, BACKEND_UNAVAILABLE …),
 *   never as raw transport errors, so routes map them without string matching.
 */

import type { z } from "zod";
import type {
  ExecEventSchema,
  ExecResultSchema,
  FileEntrySchema,
  PreviewPortSchema,
  ProcessInfoSchema,
  ProcessLogsSchema,
  SandboxInfoSchema,
  SandboxSettingsSchema,
} from "../response-schemas";

/** Which adapter serves the sandboxes (reported by /health and in SandboxInfo). */
export type BackendKind = "cloudflare";

/** A sandbox's state as seen through the API (its fields are described in response-schemas.ts). */
export type SandboxInfo = z.infer<typeof SandboxInfoSchema>;

/**
 * What `ensure` knows beyond SandboxInfo, for the Worker's ensure step
 * (src/sandboxes/ready.ts): whether the workspace must be restored first.
 */
export interface EnsuredSandbox extends SandboxInfo {
  /**
   * The runner's state exists in the sandbox: the workspace was restored (or, for a
   * project without snapshots, initialised) since its container started. False for
   * a new container, whose disk is empty whatever the project's head holds.
   */
  initialized: boolean;
  /**
   * The sandbox's processes (the sync watcher among them) died since the last
   * ensure although its disk survived (a local jail's runtime restarted). Reported once.
   */
  started: boolean;
}

/** What a create may set on a sandbox; absent fields are left as they are. */
export interface SandboxSettingsInput {
  /** Replaces the user's environment variables: every command and process in the sandbox gets them. */
  env?: Record<string, string>;
  /** How long without requests before the container sleeps ("10m", "1h", or seconds). */
  sleepAfter?: string | number;
  /** Keep the container awake whatever the activity. */
  keepAlive?: boolean;
  /**
   * Snapshot and stop the sandbox after this long without API use ("30m", "2h", "1d", or
   * seconds; null removes it). Kept in D1 for the cron round (sandboxes/idle.ts), not by the backend.
   */
  idleTtl?: string | number | null;
}

/** What the backend keeps of a create's settings (the idle TTL is the registry's). */
export type BackendSettingsInput = Omit<SandboxSettingsInput, "idleTtl">;

/** The settings as GET /sandboxes/:id shows them: variable names, never values. */
export type SandboxSettings = z.infer<typeof SandboxSettingsSchema>;

/** The settings the backend keeps and answers (all but the idle TTL). */
export type BackendSettings = Omit<SandboxSettings, "idleTtl">;

/** A port exposed at a preview URL (POST /sandboxes/:id/ports). */
export type PreviewPort = z.infer<typeof PreviewPortSchema>;

export interface ExecRequest {
  command: string;
  /** Absolute, inside the workspace. Default: the workspace root. */
  cwd?: string;
  env?: Record<string, string>;
  /** Already clamped to the configured maximum by the route. */
  timeoutMs: number;
}

export type ExecResult = z.infer<typeof ExecResultSchema>;

/**
 * One event of a streamed exec or a followed process log. The stream always ends
 * with exactly one `exit` or `error` event.
 */
export type ExecEvent = z.infer<typeof ExecEventSchema>;

/** One entry of a listing (path absolute inside the sandbox, modifiedAt ISO 8601, mode like "0644"). */
export type FileEntry = z.infer<typeof FileEntrySchema>;
export type FileType = FileEntry["type"];

export interface FileContent {
  /** The file's bytes, streamed. */
  body: ReadableStream<Uint8Array>;
  size: number;
}

export interface CloneRequest {
  repoUrl: string;
  /** Absolute target directory inside the workspace. */
  directory: string;
  branch?: string;
  depth?: number;
  timeoutMs: number;
}

export interface CloneResult {
  directory: string;
  /** The checked-out commit (full SHA). */
  commit: string;
  branch: string;
}

export type ProcessInfo = z.infer<typeof ProcessInfoSchema>;
export type ProcessStatus = ProcessInfo["status"];

export interface StartProcessRequest {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
}

export type ProcessLogs = z.infer<typeof ProcessLogsSchema>;

/** An interactive shell on a PTY (GET /sandboxes/:projectId/terminal). */
export interface TerminalRequest {
  cols: number;
  rows: number;
  /** Absolute, confined to the workspace. */
  cwd: string;
}

/** A shell the backend opened: the runtime's WebSocket (not yet accepted) and how to end the shell. */
export interface OpenedTerminal {
  socket: WebSocket;
  /** Ends the shell and everything in its session; never rejects. */
  close(): Promise<void>;
}

export interface SandboxBackend {
  readonly kind: BackendKind;

  /** Create the sandbox if needed and wait until it can run commands (idempotent). */
  ensure(projectId: string): Promise<EnsuredSandbox>;
  /** Current state without starting anything; NotFoundError(SANDBOX_NOT_FOUND) if never created. */
  status(projectId: string): Promise<SandboxInfo>;
  /** Applies a create's settings to the sandbox (kept by its Durable Object); answers them all. */
  applySettings(projectId: string, settings: BackendSettingsInput): Promise<BackendSettings>;
  /** The sandbox's settings, starting nothing. */
  readSettings(projectId: string): Promise<BackendSettings>;
  /** Kill every process in the sandbox but the background processes `keep` names; returns how many were killed. */
  killAllProcesses(projectId: string, keep?: readonly string[]): Promise<number>;
  /** Tear the sandbox down (container stopped / workspace removed). */
  destroy(projectId: string): Promise<void>;
  /**
   * Stop its container as a sleep does (the sandbox stays created; its next use starts it
   * again and the ensure step restores its workspace). Returns once the stop is signalled.
   */
  stop(projectId: string): Promise<void>;

  /** Exposes a server's port at a preview URL under `hostname` (the sandbox must be running). */
  exposePort(projectId: string, port: number, opts: { hostname: string; name?: string }): Promise<PreviewPort>;
  /** The exposed ports, starting nothing; NotFoundError(SANDBOX_NOT_FOUND) if never created. */
  listPorts(projectId: string, hostname: string): Promise<PreviewPort[]>;
  /** Revokes a port's preview URL; NotFoundError(PORT_NOT_EXPOSED) if it was not exposed. */
  unexposePort(projectId: string, port: number): Promise<void>;

  exec(projectId: string, req: ExecRequest): Promise<ExecResult>;
  /**
   * `exec` in one call when the sandbox needs no ensure step (its workspace is ready):
   * the hot path of the exec route. Null, having run nothing, when it does.
   */
  execIfReady(projectId: string, req: ExecRequest): Promise<ExecResult | null>;
  /** Streams events as they happen; failures after the start arrive as an `error` event. */
  execStream(projectId: string, req: ExecRequest, signal?: AbortSignal): Promise<ReadableStream<ExecEvent>>;

  readFile(projectId: string, path: string, maxBytes: number): Promise<FileContent>;
  /** Writes bytes, creating parent directories. */
  writeFile(projectId: string, path: string, body: Uint8Array): Promise<{ size: number }>;
  /**
   * Extracts a tar or tar.gz archive, streamed from `body`, into directory `dir`: all of
   * it or, when tar refuses it, nothing (400 INVALID_ARCHIVE); 413 over `maxBytes`.
   */
  extractArchive(
    projectId: string,
    dir: string,
    body: ReadableStream<Uint8Array>,
    maxBytes: number,
  ): Promise<{ entries: number; bytes: number }>;
  /** Packs directory `dir` as a tar (tar.gz with `gzip`), streamed; 413 when it packs over `maxBytes`. */
  packArchive(projectId: string, dir: string, opts: { gzip: boolean; maxBytes: number }): Promise<FileContent>;
  /** Deletes a file, or a directory with everything in it. */
  deletePath(projectId: string, path: string): Promise<void>;
  list(projectId: string, path: string, opts: { recursive: boolean }): Promise<FileEntry[]>;

  clone(projectId: string, req: CloneRequest): Promise<CloneResult>;

  startProcess(projectId: string, req: StartProcessRequest): Promise<ProcessInfo>;
  listProcesses(projectId: string): Promise<ProcessInfo[]>;
  getProcess(projectId: string, id: string): Promise<ProcessInfo>;
  killProcess(projectId: string, id: string): Promise<ProcessInfo>;
  processLogs(projectId: string, id: string): Promise<ProcessLogs>;
  /** Follows a process's output from its start until it exits (ends with `exit`). */
  followProcess(projectId: string, id: string, signal?: AbortSignal): Promise<ReadableStream<ExecEvent>>;

  /** Starts bash on a PTY in a session of its own, with the sandbox's env, and connects to it. */
  openTerminal(projectId: string, req: TerminalRequest): Promise<OpenedTerminal>;
}
