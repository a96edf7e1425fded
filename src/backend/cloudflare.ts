/**
 * @module backend/cloudflare
 * The `cloudflare` adapter: each project is a Sandbox Durable Object with its
 * container, reached through @cloudflare/sandbox 0.12.x (`getSandbox`). The only
 * module (with its cloudflare-* helpers) that imports the SDK. Background processes
 * are cloudflare-processes.ts.
 *
 * Choices worth knowing:
 * - Sessionless: every call is its own process in the container (see sandboxOf).
 * - Timeouts kill: a buffered exec passes its timeout to the runtime, which (sessionless)
 *   kills the command's process group and says so (runtimeTimeout). A streamed exec gets
 *   no timeout from the runtime, so it runs under GNU `timeout` (wrapWithTimeout). The
 *   Worker races one more, a little later, for a runtime that stopped answering.
 * - git runs through `exec` with every argument single-quoted (no gitCheckout,
 *   removed in SDK 1.0); credentials in the URL are redacted from all output.
 * - `status()` never starts a container: it reads the Durable Object's container
 *   state (`getState()`), and "never created" is the absence of the mark its
 *   Durable Object sets when its container starts (destroy removes it).
 */
import { type ExecOptions, getSandbox, type Sandbox, type ExecResult as SdkExecResult } from "@cloudflare/sandbox";
import { BackendError, ConflictError, NotFoundError, TimeoutError, ValidationError } from "../errors";
import { cloneArgv, RepoUrlError, redactText } from "../shared/git";
import { STATE_DIR_IN_SHELL } from "../shared/snapshot-format";
import { shellCommand, shellQuote } from "../shell";
import { extractArchive, packArchive } from "./cloudflare-archives";
import {
  CONTAINER_TIMEOUT_GRACE_MS,
  runtimeTimeout,
  type SdkFileInfo,
  toFileEntry,
  WORKER_TIMEOUT_GRACE_MS,
  wrapWithTimeout,
} from "./cloudflare-convert";
import { type ErrorContext, mapErrors } from "./cloudflare-errors";
import { readFileBody, writeFileBytes } from "./cloudflare-files";
import { cloudflareProcesses, isRunning } from "./cloudflare-processes";
import { execEventStream } from "./cloudflare-streams";
import { openTerminal } from "./cloudflare-terminal";
import type {
  BackendSettings,
  BackendSettingsInput,
  ExecRequest,
  ExecResult,
  PreviewPort,
  SandboxBackend,
  SandboxInfo,
} from "./types";

// biome-ignore lint/suspicious/noExplicitAny: the SDK's Sandbox is generic over the Worker's Env, irrelevant here.
type AnySandbox = Sandbox<any>;

export interface CloudflareBackendOptions {
  /** Workspace root inside the container (the SDK's default session starts there). */
  workspaceRoot: string;
}

/** What the product's Sandbox Durable Object adds to the SDK's (src/sandbox-class.ts). */
interface CreationMarks {
  wasCreated(): Promise<boolean>;
  workspaceReady(): Promise<boolean>;
  noteEnsured(initialized: boolean): Promise<boolean>;
  execIfReady(command: string, options: ExecOptions): Promise<SdkExecResult | null>;
  applySettings(settings: BackendSettingsInput): Promise<BackendSettings>;
  readSettings(): Promise<BackendSettings>;
  exposePreviewPort(port: number, hostname: string, name?: string): Promise<PreviewPort>;
  previewPorts(hostname: string): Promise<PreviewPort[] | null>;
  revokePreviewPort(port: number): Promise<boolean>;
}

/** Exit codes of the adapter's own shell snippets. */
const EXIT_NOT_FOUND = 44;
const EXIT_NOT_EMPTY = 45;

/** Rejects with TimeoutError after `ms` unless `work` settles first. */
async function race<T>(work: Promise<T>, ms: number, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(timeoutMs)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** Creates the adapter over the Sandbox Durable Object namespace. */
export function createCloudflareBackend(
  ns: DurableObjectNamespace<AnySandbox & CreationMarks>,
  opts: CloudflareBackendOptions,
): SandboxBackend {
  // Sessionless: every call is its own process in the container, so nothing of one request
  // waits behind another's long command (the runtime serialises the calls of one session),
  // an `exit` ends only that command, and output comes back byte for byte.
  // normalizeId: project ids are lowercase already (schemas.ts); it is what the SDK's preview proxy
  // passes (backend/cloudflare-preview.ts), and the SDK sends the Sandbox a configure call whenever
  // the options of one id change within an isolate.
  const sandboxOf = (projectId: string): AnySandbox =>
    getSandbox(ns, projectId, { enableDefaultSession: false, normalizeId: true });
  // The product's Sandbox class (src/sandbox-class.ts) records creation when its container
  // starts: the SDK's placement id, stored in a session handshake, was missing now and then.
  const marks = (sandbox: AnySandbox) => sandbox as unknown as CreationMarks;
  const processes = cloudflareProcesses(ns, sandboxOf, opts.workspaceRoot);
  const info = (projectId: string, ready: boolean): SandboxInfo => ({
    projectId,
    status: ready ? "ready" : "stopped",
    backend: "cloudflare",
    isolated: true,
  });

  /**
   * Runs `req` through `call` (an SDK exec) under the runtime's own timeout and the Worker's
   * deadline; the result says whether the timeout killed it. A call that ran nothing (null) stays null.
   */
  async function runWith<R extends SdkExecResult | null>(
    req: ExecRequest,
    call: (options: ExecOptions) => Promise<R>,
    errCtx: ErrorContext = {},
  ) {
    const started = Date.now();
    const options: ExecOptions = {
      timeout: req.timeoutMs,
      ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
      ...(req.env !== undefined ? { env: req.env } : {}),
    };
    const result = await mapErrors(() => race(call(options), req.timeoutMs + WORKER_TIMEOUT_GRACE_MS, req.timeoutMs), {
      timeoutMs: req.timeoutMs,
      ...errCtx,
    });
    if (result === null) return null;
    const { killed, stderr } = runtimeTimeout(result, req.timeoutMs);
    return { stdout: result.stdout, stderr, exitCode: result.exitCode, durationMs: Date.now() - started, killed };
  }

  /** Runs `req` in the project's sandbox (see runWith). */
  async function run(projectId: string, req: ExecRequest, errCtx: ErrorContext = {}) {
    // biome-ignore lint/style/noNonNullAssertion: the SDK's exec always answers a result.
    return (await runWith(req, (options) => sandboxOf(projectId).exec(req.command, options), errCtx))!;
  }

  /** A finished exec, or TimeoutError when the runtime's timeout killed it. */
  function finished({ killed, ...result }: ExecResult & { killed: boolean }, req: ExecRequest): ExecResult {
    if (killed) throw new TimeoutError(req.timeoutMs, { stdout: result.stdout, stderr: result.stderr });
    return result;
  }

  return {
    kind: "cloudflare",

    async ensure(projectId) {
      const sandbox = sandboxOf(projectId);
      // The Durable Object remembers a restored workspace until its container stops: most
      // calls need no more than that one RPC.
      if (await mapErrors(() => marks(sandbox).workspaceReady())) {
        return { ...info(projectId, true), initialized: true, started: false };
      }
      // One trivial command starts the container, waits for its port and says whether the
      // runner's state survived (it does not when the container slept or was replaced: its
      // disk is new). `started`: the container started since the last ensure with its disk
      // kept (a local jail's runtime restarted), so its processes are new.
      const result = await mapErrors(() =>
        sandbox.exec(`test -e ${STATE_DIR_IN_SHELL}/state.json; echo "initialized=$?"`),
      );
      const m = /initialized=(\d+)/.exec(result.stdout);
      if (result.exitCode !== 0 || !m) throw new BackendError("Sandbox container did not answer");
      const initialized = m[1] === "0";
      const started = await mapErrors(() => marks(sandbox).noteEnsured(initialized));
      return { ...info(projectId, true), initialized, started: started && initialized };
    },

    async status(projectId) {
      const sandbox = sandboxOf(projectId);
      if (!(await mapErrors(() => marks(sandbox).wasCreated()))) {
        throw new NotFoundError(`Sandbox ${projectId} not found`, "SANDBOX_NOT_FOUND");
      }
      return info(projectId, await mapErrors(() => isRunning(sandbox)));
    },

    applySettings: (projectId, settings) => mapErrors(() => marks(sandboxOf(projectId)).applySettings(settings)),
    readSettings: (projectId) => mapErrors(() => marks(sandboxOf(projectId)).readSettings()),

    killAllProcesses: processes.killAll,

    exposePort: (projectId, port, { hostname, name }) =>
      mapErrors(() => marks(sandboxOf(projectId)).exposePreviewPort(port, hostname, name)),

    async listPorts(projectId, hostname) {
      const ports = await mapErrors(() => marks(sandboxOf(projectId)).previewPorts(hostname));
      if (ports === null) throw new NotFoundError(`Sandbox ${projectId} not found`, "SANDBOX_NOT_FOUND");
      return ports;
    },

    async unexposePort(projectId, port) {
      if (!(await mapErrors(() => marks(sandboxOf(projectId)).revokePreviewPort(port)))) {
        throw new NotFoundError(`Port ${port} of ${projectId} is not exposed`, "PORT_NOT_EXPOSED");
      }
    },

    async destroy(projectId) {
      await mapErrors(() => sandboxOf(projectId).destroy());
    },

    async stop(projectId) {
      await mapErrors(() => sandboxOf(projectId).stop());
    },

    async exec(projectId, req): Promise<ExecResult> {
      return finished(await run(projectId, req), req);
    },

    async execIfReady(projectId, req): Promise<ExecResult | null> {
      const sandbox = marks(sandboxOf(projectId));
      const result = await runWith(req, (options) => sandbox.execIfReady(req.command, options));
      return result && finished(result, req);
    },

    async execStream(projectId, req, signal) {
      const startedAt = Date.now();
      // The runtime keeps running a streamed command whose reader went away: a tag (a shell
      // comment, seen in the runtime's process list) lets the adapter find and kill it then.
      const tag = `sandbox-worker-stream-${crypto.randomUUID()}`;
      const sse = await mapErrors(
        () =>
          sandboxOf(projectId).execStream(`${wrapWithTimeout(req.command, req.timeoutMs)} # ${tag}`, {
            timeout: req.timeoutMs + CONTAINER_TIMEOUT_GRACE_MS,
            ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
            ...(req.env !== undefined ? { env: req.env } : {}),
          }),
        { timeoutMs: req.timeoutMs },
      );
      const onAbandon = async () => {
        await processes.killTagged(projectId, tag);
      };
      return execEventStream(sse, { command: req.command, timeoutMs: req.timeoutMs, startedAt, signal, onAbandon });
    },

    readFile: (projectId, path, maxBytes) => readFileBody(sandboxOf(projectId), path, maxBytes),

    async writeFile(projectId, path, body) {
      await writeFileBytes(sandboxOf(projectId), path, body);
      return { size: body.byteLength };
    },

    extractArchive: (projectId, dir, body, maxBytes) => extractArchive(sandboxOf(projectId), dir, body, maxBytes),
    packArchive: (projectId, dir, opts) => packArchive(sandboxOf(projectId), dir, opts),

    async deletePath(projectId, path) {
      // One round trip for files, symlinks (not their targets) and whole directories.
      const p = shellQuote(path);
      const script = `if [ -e ${p} ] || [ -L ${p} ]; then rm -rf -- ${p}; else exit ${EXIT_NOT_FOUND}; fi`;
      const result = await mapErrors(() => sandboxOf(projectId).exec(script));
      if (result.exitCode === EXIT_NOT_FOUND) throw new NotFoundError(`File not found: ${path}`, "FILE_NOT_FOUND");
      if (result.exitCode !== 0) {
        throw new BackendError(`Deleting ${path} failed: ${result.stderr.trim()}`, "FILE_DELETE_FAILED");
      }
    },

    async list(projectId, path, { recursive }) {
      const result = await mapErrors(() => sandboxOf(projectId).listFiles(path, { recursive, includeHidden: true }));
      return (result.files as SdkFileInfo[]).map(toFileEntry);
    },

    async clone(projectId, req) {
      const redact = (text: string) => redactText(text, req.repoUrl);
      let argv: string[];
      try {
        argv = ["git", ...cloneArgv(req)];
      } catch (err) {
        if (err instanceof RepoUrlError) throw new ValidationError(redact(err.message), undefined, "INVALID_REPO_URL");
        throw err;
      }
      const d = shellQuote(req.directory);
      const scheme = new URL(req.repoUrl).protocol.replace(/:$/, "");
      const script = [
        `if [ -e ${d} ] && { [ ! -d ${d} ] || [ -n "$(ls -A ${d})" ]; }; then exit ${EXIT_NOT_EMPTY}; fi`,
        `${shellCommand(argv)} || exit $?`,
        `git -C ${d} rev-parse HEAD --abbrev-ref HEAD`,
      ].join("\n");
      const env = { GIT_TERMINAL_PROMPT: "0", GIT_ALLOW_PROTOCOL: scheme };
      const out = await run(projectId, { command: script, env, timeoutMs: req.timeoutMs }, { redact });
      if (out.killed) {
        throw new TimeoutError(req.timeoutMs, { stdout: redact(out.stdout), stderr: redact(out.stderr) });
      }
      if (out.exitCode === EXIT_NOT_EMPTY) {
        throw new ConflictError(`Clone target ${req.directory} exists and is not an empty directory`);
      }
      const [commit = "", branch = ""] = out.stdout.trim().split("\n").slice(-2);
      if (out.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(commit)) {
        const why = redact(out.stderr.trim()).slice(-2000) || `git exited with ${out.exitCode}`;
        throw new ValidationError(`git clone failed: ${why}`, undefined, "CLONE_FAILED");
      }
      return { directory: req.directory, commit, branch: branch === "HEAD" && req.branch ? req.branch : branch };
    },

    startProcess: processes.start,
    listProcesses: processes.list,
    getProcess: processes.get,
    killProcess: processes.kill,
    processLogs: processes.logs,
    followProcess: processes.follow,

    openTerminal: (projectId, req) => openTerminal(sandboxOf(projectId), req),
  };
}
