/**
 * @module sandboxd/processes
 * Background processes of one project: start, list, get, kill, logs and follow.
 * Logs are kept as an ordered list of chunks bounded per stream (oldest output is
 * dropped first), so `follow` can replay what is left in order, then go live.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { notFound } from "./errors.ts";
import type { ExecEvent } from "./exec.ts";
import { exitCodeOf, isRunning, killTree } from "./spawn.ts";

/** What the API reports about a process (ProcessInfo in src/backend/types.ts). */
export interface ProcessInfo {
  id: string;
  command: string;
  status: "running" | "completed" | "failed" | "killed";
  pid?: number;
  exitCode: number | null;
  startedAt: string;
  endedAt: string | null;
}

type Stream = "stdout" | "stderr";
type Listener = (event: ExecEvent) => void;

interface Managed {
  info: ProcessInfo;
  child: ChildProcess;
  chunks: Array<{ stream: Stream; data: string; bytes: number }>;
  bytes: Record<Stream, number>;
  truncated: boolean;
  listeners: Set<Listener>;
  startedMs: number;
  durationMs: number;
  killRequested: boolean;
  exited: Promise<void>;
}

/** Finished processes kept for list/get/logs; the oldest finished ones are forgotten first. */
const MAX_KEPT = 256;

/** A project's background processes. `spawnShell` starts a command in the project's sandbox. */
export class ProcessTable {
  private readonly procs = new Map<string, Managed>();
  private readonly logBytes: number;

  constructor(logBytes: number) {
    this.logBytes = logBytes;
  }

  /** Registers an already-started child running `command`. */
  add(command: string, child: ChildProcess): ProcessInfo {
    const id = `p_${randomBytes(8).toString("hex")}`;
    let markExited: () => void = () => {};
    const m: Managed = {
      info: {
        id,
        command,
        status: "running",
        pid: child.pid,
        exitCode: null,
        startedAt: new Date().toISOString(),
        endedAt: null,
      },
      child,
      chunks: [],
      bytes: { stdout: 0, stderr: 0 },
      truncated: false,
      listeners: new Set(),
      startedMs: Date.now(),
      durationMs: 0,
      killRequested: false,
      exited: new Promise((resolve) => {
        markExited = resolve;
      }),
    };
    for (const stream of ["stdout", "stderr"] as const) {
      const decoder = new TextDecoder();
      child[stream]?.on("data", (chunk: Buffer) => this.append(m, stream, decoder.decode(chunk, { stream: true })));
      child[stream]?.on("end", () => this.append(m, stream, decoder.decode()));
    }
    const end = (exitCode: number) => {
      if (m.info.endedAt) return;
      m.durationMs = Date.now() - m.startedMs;
      m.info.exitCode = exitCode;
      m.info.endedAt = new Date().toISOString();
      m.info.status = m.killRequested ? "killed" : exitCode === 0 ? "completed" : "failed";
      const last: ExecEvent = { type: "exit", exitCode, durationMs: m.durationMs };
      for (const listener of m.listeners) listener(last);
      m.listeners.clear();
      markExited();
    };
    child.once("error", () => end(127));
    child.once("close", (code, signal) => end(exitCodeOf(code, signal)));
    this.procs.set(id, m);
    this.evict();
    return { ...m.info };
  }

  private append(m: Managed, stream: Stream, data: string): void {
    if (!data) return;
    const bytes = Buffer.byteLength(data);
    m.chunks.push({ stream, data, bytes });
    m.bytes[stream] += bytes;
    while (m.bytes[stream] > this.logBytes) {
      const i = m.chunks.findIndex((c) => c.stream === stream);
      const first = m.chunks[i];
      if (!first) break;
      m.truncated = true;
      const excess = m.bytes[stream] - this.logBytes;
      if (first.bytes <= excess) {
        m.chunks.splice(i, 1);
        m.bytes[stream] -= first.bytes;
      } else {
        // Keep the tail of an oversized chunk (cut on a byte boundary, so re-decode leniently).
        const tail = Buffer.from(first.data).subarray(excess).toString("utf8");
        m.bytes[stream] -= first.bytes;
        first.data = tail;
        first.bytes = Buffer.byteLength(tail);
        m.bytes[stream] += first.bytes;
        break;
      }
    }
    const event: ExecEvent = { type: stream, data };
    for (const listener of m.listeners) listener(event);
  }

  private evict(): void {
    if (this.procs.size <= MAX_KEPT) return;
    for (const [id, m] of this.procs) {
      if (this.procs.size <= MAX_KEPT) break;
      if (m.info.endedAt) this.procs.delete(id);
    }
  }

  private find(id: string): Managed {
    const m = this.procs.get(id);
    if (!m) throw notFound(`No process ${JSON.stringify(id)} in this sandbox`, "PROCESS_NOT_FOUND");
    return m;
  }

  list(): ProcessInfo[] {
    return [...this.procs.values()].map((m) => ({ ...m.info }));
  }

  get(id: string): ProcessInfo {
    return { ...this.find(id).info };
  }

  /** Kills the process tree and waits (briefly) until it has exited. */
  async kill(id: string): Promise<ProcessInfo> {
    const m = this.find(id);
    if (isRunning(m.child)) {
      m.killRequested = true;
      killTree(m.child);
      await Promise.race([m.exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    return { ...m.info };
  }

  /**
   * Marks every running process but those in `keep` as killed by request (the caller
   * kills the children); returns the children of the kept ones, which must be spared.
   */
  markAllKilled(keep: ReadonlySet<string> = new Set()): Set<ChildProcess> {
    const spared = new Set<ChildProcess>();
    for (const [id, m] of this.procs) {
      if (keep.has(id)) spared.add(m.child);
      else if (isRunning(m.child)) m.killRequested = true;
    }
    return spared;
  }

  logs(id: string): { stdout: string; stderr: string; truncated: boolean } {
    const m = this.find(id);
    const pick = (s: Stream) =>
      m.chunks
        .filter((c) => c.stream === s)
        .map((c) => c.data)
        .join("");
    return { stdout: pick("stdout"), stderr: pick("stderr"), truncated: m.truncated };
  }

  /**
   * Replays the kept output in order, then delivers live output until the exit
   * event. Returns an unsubscribe function.
   */
  follow(id: string, listener: Listener): () => void {
    const m = this.find(id);
    listener({ type: "start", pid: m.info.pid, command: m.info.command });
    for (const c of m.chunks) listener({ type: c.stream, data: c.data });
    if (m.info.endedAt) {
      listener({ type: "exit", exitCode: m.info.exitCode ?? -1, durationMs: m.durationMs });
      return () => {};
    }
    m.listeners.add(listener);
    return () => m.listeners.delete(listener);
  }
}
