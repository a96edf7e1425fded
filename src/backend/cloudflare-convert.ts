/**
 * @module backend/cloudflare-convert
 * Pure helpers of the cloudflare adapter: how a command is wrapped so the
 * container really kills it on timeout, how SDK records become our types, and
 * base64 for binary-safe file transfer.
 */
import { shellQuote } from "../shell";
import type { FileEntry, FileType, ProcessInfo, ProcessStatus } from "./types";

/** Extra time the SDK's timeout of a streamed exec leaves the in-sandbox `timeout` to act first. */
export const CONTAINER_TIMEOUT_GRACE_MS = 5_000;
/** Extra time before the Worker gives up on a container that stopped answering. */
export const WORKER_TIMEOUT_GRACE_MS = 10_000;
/** Seconds GNU timeout waits after SIGTERM before SIGKILL. */
const KILL_AFTER_S = 2;

/**
 * A streamed command as run in the container: under GNU `timeout`, which signals the
 * whole process group (so background children die too) and leaves the output produced
 * so far. The runtime's stream route takes no timeout of its own (buffered execs use the
 * runtime's: runtimeTimeout), so this is what kills a streamed command at its deadline.
 */
export function wrapWithTimeout(command: string, timeoutMs: number): string {
  const seconds = Math.max(0.001, timeoutMs / 1000).toFixed(3);
  return `timeout -k ${KILL_AFTER_S} ${seconds} /bin/bash -c ${shellQuote(command)}`;
}

/**
 * A background process's command as the adapter starts it: the user's command as one
 * `bash -c` argument. Its own shell then ends at a top-level `exit N` (the process
 * finishes with N) whatever the runtime wraps it in, and the prefix marks the process
 * as one a user started: streamed execs (wrapWithTimeout) share the runtime's process
 * list and are hidden by it. `unwrapProcessCommand` gives the user's command back.
 */
const PROCESS_PREFIX = "/bin/bash -c ";

export function wrapProcessCommand(command: string): string {
  return `${PROCESS_PREFIX}${shellQuote(command)}`;
}

/** The user's command of a process the adapter started; undefined for any other command. */
export function unwrapProcessCommand(command: string): string | undefined {
  if (!command.startsWith(PROCESS_PREFIX)) return undefined;
  const m = /^'((?:[^']|'\\'')*)'$/.exec(command.slice(PROCESS_PREFIX.length));
  return m ? (m[1] as string).replaceAll("'\\''", "'") : undefined;
}

/**
 * A buffered exec killed by the runtime's own timeout. Sessionless, the runtime kills the
 * command's process group at `timeoutMs` (SIGTERM, SIGKILL 5 s later), answers exit 124 and
 * appends one line to stderr; this says so and gives stderr back without that line. (Streamed
 * execs have no runtime timeout: they run under wrapWithTimeout.)
 */
export function runtimeTimeout(
  result: { exitCode: number; stderr: string },
  timeoutMs: number,
): { killed: boolean; stderr: string } {
  const line = `Command timed out after ${timeoutMs}ms`;
  if (result.exitCode !== 124 || !result.stderr.endsWith(line)) return { killed: false, stderr: result.stderr };
  // The runtime puts its line after a line break of its own when the output lacked one: a
  // killed command's partial stderr may gain a trailing newline (it cannot be told apart).
  return { killed: true, stderr: result.stderr.slice(0, -line.length) };
}

/** Whether an exit of the wrapped command means `timeout` killed it (124 after TERM, 137 after KILL). */
export function timedOut(exitCode: number, durationMs: number, timeoutMs: number): boolean {
  return (exitCode === 124 || exitCode === 137) && durationMs >= timeoutMs * 0.95;
}

/** "rwxr-xr-x" (what the SDK lists) → "0755". */
export function modeToOctal(mode: string): string {
  const m = /^[-dlcbps]?([-r][-w][-xsS])([-r][-w][-xsS])([-r][-w][-xtT])$/.exec(mode);
  if (!m) return /^0?[0-7]{3,4}$/.test(mode) ? mode.padStart(4, "0") : "0000";
  const digit = (triple: string) =>
    (triple[0] === "r" ? 4 : 0) + (triple[1] === "w" ? 2 : 0) + (/[xst]/.test(triple[2] ?? "") ? 1 : 0);
  return `0${digit(m[1] as string)}${digit(m[2] as string)}${digit(m[3] as string)}`;
}

/** `find -printf` time (no zone, up to 10 fraction digits, container clock in UTC) → ISO 8601. */
export function findTimeToIso(time: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$/.exec(time);
  if (!m) {
    const d = new Date(time);
    return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
  }
  const fraction = (m[2] ?? "").slice(0, 3).padEnd(3, "0");
  return new Date(`${m[1]}.${fraction}${m[3] ?? "Z"}`).toISOString();
}

/** What the SDK's listFiles returns per entry (the fields we use). */
export interface SdkFileInfo {
  name: string;
  absolutePath: string;
  type: string;
  size: number;
  modifiedAt: string;
  mode: string;
}

const FILE_TYPES = new Set<FileType>(["file", "directory", "symlink", "other"]);

export function toFileEntry(info: SdkFileInfo): FileEntry {
  return {
    name: info.name,
    path: info.absolutePath,
    type: FILE_TYPES.has(info.type as FileType) ? (info.type as FileType) : "other",
    size: info.size,
    modifiedAt: findTimeToIso(info.modifiedAt),
    mode: modeToOctal(info.mode),
  };
}

/** What the SDK's process methods return (the data fields; Dates may arrive as strings). */
export interface SdkProcess {
  id: string;
  pid?: number;
  command: string;
  status: string;
  startTime: Date | string;
  endTime?: Date | string;
  exitCode?: number | null;
}

const isoOf = (d: Date | string | undefined): string | null =>
  d === undefined ? null : typeof d === "string" ? new Date(d).toISOString() : d.toISOString();

/** SDK statuses "starting" and "error" have no equivalent in ours: starting is running, error failed. */
function toStatus(status: string): ProcessStatus {
  switch (status) {
    case "completed":
    case "failed":
    case "killed":
      return status;
    case "error":
      return "failed";
    default:
      return "running";
  }
}

/** `command` is passed separately: the SDK's is the wrapped one we hide. */
export function toProcessInfo(p: SdkProcess, command: string): ProcessInfo {
  const status = toStatus(p.status);
  return {
    id: p.id,
    command,
    status,
    ...(p.pid !== undefined ? { pid: p.pid } : {}),
    exitCode: status === "running" ? null : (p.exitCode ?? null),
    startedAt: isoOf(p.startTime) ?? new Date().toISOString(),
    endedAt: status === "running" ? null : isoOf(p.endTime),
  };
}

/** Base64 of bytes without building one giant argument list. */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = "";
  const step = 0x8000 - (0x8000 % 3);
  for (let i = 0; i < bytes.length; i += step) {
    out += btoa(String.fromCharCode(...bytes.subarray(i, i + step)));
  }
  return out;
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
