/**
 * @module sandboxd/exec
 * Runs one shell command in a project's sandbox, either buffered (output capped
 * per stream) or streamed as ExecEvent objects. On timeout the whole process tree
 * is SIGKILLed; the buffered form then fails with TIMEOUT carrying the output so far.
 */
import type { ExecEvent } from "../../src/backend/types.ts";
import type { Isolation } from "./bwrap.ts";
import { SandboxdError } from "./errors.ts";
import { exitCodeOf, killTree, launch, SHELL, type SpawnTarget } from "./spawn.ts";

/** A command as sandboxd receives it; `cwd` already confined to /workspace. */
export interface ExecInput {
  command: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
}

/** One event of a streamed command: the Worker's own type, so the two cannot drift apart. */
export type { ExecEvent } from "../../src/backend/types.ts";

/** Keeps at most `limit` bytes of a stream, decoded as UTF-8 without splitting characters. */
export class CappedText {
  private readonly parts: string[] = [];
  private readonly decoder = new TextDecoder();
  private readonly limit: number;
  private bytes = 0;
  truncated = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  push(chunk: Uint8Array): void {
    const room = this.limit - this.bytes;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const take = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    if (take !== chunk) this.truncated = true;
    this.bytes += take.byteLength;
    this.parts.push(this.decoder.decode(take, { stream: true }));
  }

  text(): string {
    return this.parts.join("") + this.decoder.decode();
  }
}

function timeoutError(timeoutMs: number, details: Record<string, unknown>): SandboxdError {
  return new SandboxdError(408, "TIMEOUT", `Command timed out after ${timeoutMs} ms and was killed`, {
    timeoutMs,
    ...details,
  });
}

/** Buffered result; `truncated` says an output stream hit the cap. */
export interface ExecOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
  truncated: boolean;
}

/** Runs `argv` (no shell) to completion with a timeout; the building block of exec and clone. */
export function runBuffered(
  iso: Isolation,
  target: SpawnTarget,
  spec: { argv: string[]; cwd: string; env: Record<string, string>; timeoutMs: number },
  maxOutputBytes: number,
): Promise<ExecOutput> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = launch(iso, target, spec);
    const out = new CappedText(maxOutputBytes);
    const err = new CappedText(maxOutputBytes);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, spec.timeoutMs);
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => err.push(c));
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new SandboxdError(500, "SPAWN_FAILED", `Could not start the command: ${e.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const result = {
        stdout: out.text(),
        stderr: err.text(),
        exitCode: exitCodeOf(code, signal),
        durationMs: Date.now() - started,
        truncated: out.truncated || err.truncated,
      };
      if (timedOut) reject(timeoutError(spec.timeoutMs, result));
      else resolve(result);
    });
  });
}

/** `command` through the shell, buffered. */
export function execBuffered(
  iso: Isolation,
  target: SpawnTarget,
  input: ExecInput,
  maxOutputBytes: number,
): Promise<ExecOutput> {
  return runBuffered(iso, target, { ...input, argv: [SHELL, "-c", input.command] }, maxOutputBytes);
}

/** Where streamed events go; `write` returns false when the consumer wants a pause until `onDrain`. */
export interface EventSink {
  write(event: ExecEvent): boolean;
  onDrain(resume: () => void): void;
}

/**
 * Streams `command`'s events into `sink`; resolves after the final exit/error
 * event. Aborting `signal` (the client went away) kills the process tree.
 */
export function execStream(
  iso: Isolation,
  target: SpawnTarget,
  input: ExecInput,
  sink: EventSink,
  signal: AbortSignal,
): Promise<void> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = launch(iso, target, { ...input, argv: [SHELL, "-c", input.command] });
    let timedOut = false;
    let finished = false;
    const finish = (event: ExecEvent) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      sink.write(event);
      resolve();
    };
    const onAbort = () => {
      killTree(child);
      // Paused pipes never end; drain them so "close" (and the final event) still happen.
      child.stdout?.resume();
      child.stderr?.resume();
    };
    signal.addEventListener("abort", onAbort);
    const timer = setTimeout(() => {
      timedOut = true;
      killTree(child);
    }, input.timeoutMs);
    sink.write({ type: "start", pid: child.pid, command: input.command });
    for (const [stream, type] of [
      [child.stdout, "stdout"],
      [child.stderr, "stderr"],
    ] as const) {
      const decoder = new TextDecoder();
      stream?.on("data", (chunk: Buffer) => {
        const data = decoder.decode(chunk, { stream: true });
        // Backpressure: a slow client pauses the pipe instead of growing sandboxd's memory.
        if (data && !sink.write({ type, data })) {
          stream.pause();
          sink.onDrain(() => stream.resume());
        }
      });
      stream?.on("end", () => {
        const rest = decoder.decode();
        if (rest) sink.write({ type, data: rest });
      });
    }
    child.once("error", (e) => finish({ type: "error", code: "SPAWN_FAILED", message: e.message }));
    child.once("close", (code, sig) => {
      if (timedOut) {
        finish({
          type: "error",
          code: "TIMEOUT",
          message: `Command timed out after ${input.timeoutMs} ms and was killed`,
        });
      } else {
        finish({ type: "exit", exitCode: exitCodeOf(code, sig), durationMs: Date.now() - started });
      }
    });
  });
}
