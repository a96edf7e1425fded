/**
 * @module backend/cloudflare-processes
 * Background processes of the cloudflare adapter (cloudflare.ts) on Cloudflare's
 * container runtime: started sessionless as `/bin/bash -c '<command>'`, listed with
 * the user's own command (wrappers and streamed execs hidden), looked up without
 * waiting on the runtime's slow paths, killed with the runtime's semantics. Every
 * call is bounded in time: none waits forever on a process that will not end.
 */
import type { Sandbox } from "@cloudflare/sandbox";
import { BackendError, NotFoundError, ValidationError } from "../errors";
import { SESSIONLESS } from "../shared/container-runtime";
import { shellQuote } from "../shell";
import { type SdkProcess, toProcessInfo, unwrapProcessCommand, wrapProcessCommand } from "./cloudflare-convert";
import { mapErrors, sdkErrorShape } from "./cloudflare-errors";
import { processEventStream } from "./cloudflare-streams";
import type { ProcessInfo, SandboxBackend } from "./types";

// biome-ignore lint/suspicious/noExplicitAny: the SDK's Sandbox is generic over the Worker's Env, irrelevant here.
type AnySandbox = Sandbox<any>;

/**
 * Background processes. The SDK's `startProcess` of a sandbox without default session
 * drops the sessionless token (it passes it in the options; the Durable Object reads a
 * third argument) and starts the process in the default session's shell, where a
 * top-level `exit` never finishes, a missing cwd stays "running" and output is
 * re-lined. The adapter calls the Durable Object itself with the token, so a process
 * is spawned on its own (`bash -c`) like every other call of the adapter.
 */
/** The Durable Object's own startProcess (the SDK's Sandbox.startProcess(command, options, sessionId)). */
interface SessionlessStart {
  startProcess(
    command: string,
    options: { cwd: string; env?: Record<string, string> },
    sessionId: string,
  ): Promise<SdkProcess>;
}
/** Upper bound for a listing, a lookup or a log read: the runtime's GET of a process waits for its output to end. */
const PROCESS_QUERY_TIMEOUT_MS = 10_000;
/** Upper bound for a kill: the runtime waits up to 5 s after SIGTERM and 1 s after SIGKILL. */
const PROCESS_KILL_TIMEOUT_MS = 15_000;

/** `work` (its failures mapped), or BACKEND_UNAVAILABLE after `ms`: no process call waits forever. */
async function bounded<T>(work: () => Promise<T>, what: string, ms = PROCESS_QUERY_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BackendError(`The sandbox did not answer ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([mapErrors(work), deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * The plain data of an RPC result. The SDK's Process records carry methods, so each one
 * arrives holding RPC stubs, which workerd wants disposed (it warns otherwise); the
 * adapter uses only the data, so it copies that and disposes the result at once.
 */
async function rpcData<T>(work: () => Promise<T>): Promise<T> {
  const result = await work();
  const data = JSON.parse(JSON.stringify(result ?? null)) as T;
  // Symbol.dispose: workerd has it; this project's TypeScript lib does not name it yet.
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  if (dispose && result) (result as unknown as Record<symbol, (() => void) | undefined>)[dispose]?.();
  return data;
}

/** Whether the runtime refused a kill because the process had already ended. */
const alreadyEnded = (err: unknown) => sdkErrorShape(err)?.code === "COMMAND_NOT_FOUND";

/** Whether the sandbox's container runs (read from its Durable Object: never starts it). */
export const isRunning = async (sandbox: AnySandbox) => (await sandbox.getState()).status === "healthy";

/** The process half of the adapter, as the SandboxBackend methods it fills. */
export function cloudflareProcesses(
  ns: Pick<DurableObjectNamespace, "get" | "idFromName">,
  sandboxOf: (projectId: string) => AnySandbox,
  workspaceRoot: string,
): {
  start: SandboxBackend["startProcess"];
  list: SandboxBackend["listProcesses"];
  get: SandboxBackend["getProcess"];
  kill: SandboxBackend["killProcess"];
  logs: SandboxBackend["processLogs"];
  follow: SandboxBackend["followProcess"];
  killAll: SandboxBackend["killAllProcesses"];
  killTagged(projectId: string, tag: string): Promise<number>;
} {
  /** The processes a user started (startProcess), with their own commands; never the wrappers or streamed execs. */
  async function userProcesses(sandbox: AnySandbox): Promise<{ proc: SdkProcess; command: string }[]> {
    const list = (await bounded(() => rpcData(() => sandbox.listProcesses()), "a process listing")) as SdkProcess[];
    return list.flatMap((proc) => {
      const command = unwrapProcessCommand(proc.command);
      // A start that failed before spawning (status "error", no pid) was answered with an error, not an id.
      if (command === undefined || (proc.status === "error" && proc.pid === undefined)) return [];
      return [{ proc, command }];
    });
  }

  /**
   * One of them, or PROCESS_NOT_FOUND. Read from the listing, which the runtime answers at
   * once: its GET of one process waits until the process's output ends, which a background
   * child holding the output open delays for as long as it lives. A finished process is
   * read again by GET (answered at once then) for its end time.
   */
  async function processOf(projectId: string, id: string): Promise<{ proc: SdkProcess; command: string }> {
    const sandbox = sandboxOf(projectId);
    const found = (await userProcesses(sandbox)).find((p) => p.proc.id === id);
    if (!found) throw new NotFoundError(`Process ${id} not found`, "PROCESS_NOT_FOUND");
    if (found.proc.status === "running" || found.proc.status === "starting") return found;
    const full = await bounded(() => rpcData(() => sandbox.getProcess(id)), `for process ${id}`, 3_000).catch(
      () => null,
    );
    return { proc: (full as SdkProcess | null) ?? found.proc, command: found.command };
  }

  /** Whether `path` is a directory in the container (a sessionless exec, from /). */
  async function isDirectory(sandbox: AnySandbox, path: string): Promise<boolean> {
    const r = await mapErrors(() => sandbox.exec(`test -d ${shellQuote(path)}`, { cwd: "/" }));
    return r.exitCode === 0;
  }

  /**
   * Kills one running process; false when nothing was left to kill. The runtime signals the
   * process group SIGTERM, waits up to 5 s for it to end, then SIGKILLs it (and waits up to
   * 1 s more); it answers only then, and marks the process `killed` with the exit code it
   * ended with: 143 after SIGTERM, 137 after SIGKILL, or the process's own when it handled
   * SIGTERM and exited.
   * The runtime refuses a process whose own shell has exited although something it started
   * in the background still holds its output open (the process stays "running" until that
   * ends): that rest of its process group gets the same treatment here, by an exec. The
   * process then ends as its shell did (completed or failed), not `killed`.
   */
  async function killOne(sandbox: AnySandbox, proc: SdkProcess): Promise<boolean> {
    const kill = async () => {
      try {
        await rpcData(() => sandbox.killProcess(proc.id));
        return true;
      } catch (err) {
        if (alreadyEnded(err)) return false;
        throw err;
      }
    };
    if (await bounded(kill, `killing process ${proc.id}`, PROCESS_KILL_TIMEOUT_MS)) return true;
    if (proc.pid === undefined) return false;
    const group = `-${proc.pid}`;
    const script = [
      `kill -TERM -- ${group} 2>/dev/null || exit 0`,
      `for ((i = 0; i < 50; i++)); do kill -0 -- ${group} 2>/dev/null || exit 3; sleep 0.1; done`,
      `kill -KILL -- ${group} 2>/dev/null; exit 3`,
    ].join("\n");
    const r = await bounded(
      () => sandbox.exec(script, { cwd: "/" }),
      `killing process ${proc.id}`,
      PROCESS_KILL_TIMEOUT_MS,
    );
    return r.exitCode === 3;
  }

  /** Kills every running process `doomed` picks, all at once (each kill may take the runtime's 5 s grace). */
  async function killWhere(sandbox: AnySandbox, doomed: (p: SdkProcess) => boolean): Promise<number> {
    const list = (await bounded(() => rpcData(() => sandbox.listProcesses()), "a process listing")) as SdkProcess[];
    const running = list.filter((p) => (p.status === "running" || p.status === "starting") && doomed(p));
    const killed = await Promise.all(running.map((p) => killOne(sandbox, p)));
    return killed.filter(Boolean).length;
  }

  return {
    killTagged: (projectId, tag) => killWhere(sandboxOf(projectId), (p) => p.command.includes(tag)),

    async killAll(projectId, keep = []) {
      const sandbox = sandboxOf(projectId);
      // A sleeping container has no processes; do not wake it to say so.
      if (!(await mapErrors(() => isRunning(sandbox)))) return 0;
      // Every running process (streamed execs too) but the kept ones, all at once: each kill
      // may take the runtime's 5 s SIGTERM grace, which one after another would add up.
      return killWhere(sandbox, (p) => !keep.includes(p.id));
    },

    async start(projectId, req) {
      // sandboxOf also hands the Durable Object the SDK's per-sandbox configuration.
      const sandbox = sandboxOf(projectId);
      const cwd = req.cwd ?? workspaceRoot;
      // The runtime answers a missing cwd only with "ENOENT … posix_spawn '/bin/bash'".
      const invalidCwd = () => new ValidationError(`cwd ${cwd} is not an existing directory`, undefined, "INVALID_CWD");
      if (cwd !== workspaceRoot && !(await isDirectory(sandbox, cwd))) throw invalidCwd();
      const stub = ns.get(ns.idFromName(projectId)) as unknown as SessionlessStart;
      const options = { cwd, ...(req.env !== undefined ? { env: req.env } : {}) };
      try {
        const proc = await mapErrors(() =>
          rpcData(() => stub.startProcess(wrapProcessCommand(req.command), options, SESSIONLESS)),
        );
        return toProcessInfo(proc, req.command);
      } catch (err) {
        if (!(await isDirectory(sandbox, cwd).catch(() => true))) throw invalidCwd();
        throw err;
      }
    },

    async list(projectId) {
      const sandbox = sandboxOf(projectId);
      if (!(await bounded(() => isRunning(sandbox), "its state"))) return [];
      return (await userProcesses(sandbox)).map(({ proc, command }) => toProcessInfo(proc, command));
    },

    async get(projectId, id) {
      const { proc, command } = await processOf(projectId, id);
      return toProcessInfo(proc, command);
    },

    // What a kill does in Cloudflare's runtime: see killOne. SIGTERM to the process group, up
    // to 5 s, then SIGKILL; the runtime answers when the process is gone and records it as
    // `killed` with the exit code it ended with (143 after SIGTERM, 137 after SIGKILL, its own
    // if it handled SIGTERM). The answer is that record, as getProcess then gives it too; a
    // process that had already ended (or whose shell had, see killOne) is answered as it ended.
    async kill(projectId, id): Promise<ProcessInfo> {
      const before = await processOf(projectId, id);
      if (toProcessInfo(before.proc, before.command).status !== "running") {
        return toProcessInfo(before.proc, before.command);
      }
      const killed = await killOne(sandboxOf(projectId), before.proc);
      // The record ends a moment after the process (once its output is read to the end).
      let after = toProcessInfo(before.proc, before.command);
      for (let i = 0; i < 30; i++) {
        const { proc, command } = await processOf(projectId, id);
        after = toProcessInfo(proc, command);
        if (after.status !== "running") break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (killed && after.status === "running") {
        return { ...after, status: "killed", endedAt: new Date().toISOString() };
      }
      return after;
    },

    async logs(projectId, id) {
      const logs = await bounded(() => sandboxOf(projectId).getProcessLogs(id), `the logs of process ${id}`);
      return { stdout: logs.stdout, stderr: logs.stderr };
    },

    async follow(projectId, id, signal) {
      const { proc, command } = await processOf(projectId, id);
      const sse = await bounded(() => sandboxOf(projectId).streamProcessLogs(id), `the output of process ${id}`);
      const startedAt = new Date(proc.startTime).getTime();
      return processEventStream(sse, { command, pid: proc.pid, startedAt, signal });
    },
  };
}
