/**
 * @module test/support/standin-sse
 * Part of the STAND-IN container (see standin-container.ts): the SSE streams of
 * the SDK's protocol for a process — /api/execute/stream (start, stdout/stderr,
 * complete) and /api/process/:id/stream (process_info, stdout/stderr, exit) —
 * replaying output so far, then following until the process ends.
 */
import type { ServerResponse } from "node:http";
import { isDone, type StandInProcess } from "./standin-processes.ts";

/** Opens an SSE response; the returned function sends one `data:` event. */
export function startSse(res: ServerResponse): (event: Record<string, unknown>) => void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  return (event) => {
    if (!res.writableEnded) res.write(`data: ${JSON.stringify({ ...event, timestamp: new Date().toISOString() })}\n\n`);
  };
}

/** Streams `proc` in the exec-stream (`exec`) or process-log (`logs`) dialect. */
export function streamProcess(res: ServerResponse, proc: StandInProcess, kind: "exec" | "logs"): void {
  const emit = startSse(res);
  const end = () => {
    if (kind === "exec") emit({ type: "complete", exitCode: proc.exitCode });
    else emit({ type: "exit", processId: proc.id, exitCode: proc.exitCode, data: `Process ${proc.status}` });
    res.end();
  };
  if (kind === "exec") emit({ type: "start", command: proc.command });
  else emit({ type: "process_info", processId: proc.id, command: proc.command, status: proc.status });
  if (proc.stdout) emit({ type: "stdout", data: proc.stdout, processId: proc.id });
  if (proc.stderr) emit({ type: "stderr", data: proc.stderr, processId: proc.id });
  if (isDone(proc)) {
    end();
    return;
  }
  const onOutput = (stream: "stdout" | "stderr", data: string) => emit({ type: stream, data, processId: proc.id });
  proc.outputListeners.add(onOutput);
  proc.exitListeners.add(end);
  res.on("close", () => {
    proc.outputListeners.delete(onOutput);
    proc.exitListeners.delete(end);
  });
}

/** A process record as /api/process/list (no end time) and /api/process/:id report it. */
export function processJson(p: StandInProcess, withEnd: boolean): Record<string, unknown> {
  return {
    id: p.id,
    pid: p.pid,
    command: p.command,
    status: p.status,
    startTime: p.startTime.toISOString(),
    ...(withEnd && p.endTime ? { endTime: p.endTime.toISOString() } : {}),
    exitCode: p.exitCode,
  };
}
