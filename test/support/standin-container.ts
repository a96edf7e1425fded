/**
 * @module test/support/standin-container
 * THE STAND-IN CONTAINER. There is no Docker here, so the Cloudflare container is
 * stood in at the transport level: this Node HTTP server (127.0.0.1 only) speaks
 * the container HTTP protocol that @cloudflare/sandbox 0.12.x's client sends
 * through `containerFetch` (port 3000, /api/...), and executes for real — real
 * processes inside bubblewrap, real files in a per-container temp directory bound
 * at /workspace. test/worker/standin-sandbox.ts routes the Sandbox Durable
 * Object's container TCP port here.
 *
 * Each container is keyed by the `x-standin-container-id` header (the Durable
 * Object id). Besides the SDK's endpoints it serves two test-only routes:
 * POST /__standin/destroy (the container was destroyed: kill everything, drop the
 * workspace) and GET /__standin/git/<path> (static files for git's "dumb HTTP"
 * protocol, so clone tests need no internet).
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { WORKSPACE } from "../../container/sandboxd/bwrap.ts";
import {
  ContainerApiError,
  deleteFileApi,
  existsApi,
  listFilesApi,
  mkdirApi,
  readFileApi,
  readFileStreamApi,
  writeFileApi,
} from "./standin-files.ts";
import { killProcess, type StandInProcess, spawnProcess } from "./standin-processes.ts";
import { processJson, streamProcess } from "./standin-sse.ts";

/** Header naming the container a request is for. */
export const CONTAINER_ID_HEADER = "x-standin-container-id";

const SDK_VERSION = (
  JSON.parse(readFileSync(new URL("../../node_modules/@cloudflare/sandbox/package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

interface Session {
  env: Record<string, string>;
  cwd: string;
}

interface StandInContainerState {
  dir: string;
  sessions: Map<string, Session>;
  processes: Map<string, StandInProcess>;
}

export interface StandInContainerOptions {
  port: number;
  /** Directory served at /__standin/git/ (bare repositories prepared for dumb HTTP). */
  gitRoot?: string;
}

export interface StandInContainer {
  url: string;
  /** Where the containers' workspaces live on the host. */
  root: string;
  /**
   * Stops every container behind its Durable Object's back, as Cloudflare does when a
   * container sleeps or is replaced: processes killed, disks gone. The next request
   * finds a new, empty container. Returns how many there were.
   */
  stopAllBehindTheirBacks(): Promise<number>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: ContainerApiError): void {
  send(res, err.httpStatus, {
    code: err.code,
    message: err.message,
    context: {},
    httpStatus: err.httpStatus,
    timestamp: new Date().toISOString(),
  });
}

async function readBody(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as Json;
  } catch {
    throw new ContainerApiError(400, "VALIDATION_FAILED", "Invalid JSON body");
  }
}

const newProcessId = () => `proc_${Date.now()}_${randomBytes(3).toString("hex")}`;
const isEnv = (v: unknown): v is Record<string, string> => typeof v === "object" && v !== null;

/** Starts the stand-in container server on 127.0.0.1:`port`. */
export async function startStandInContainer(opts: StandInContainerOptions): Promise<StandInContainer> {
  const root = await mkdtemp(join(tmpdir(), "standin-container-"));
  const containers = new Map<string, StandInContainerState>();

  async function containerFor(id: string): Promise<StandInContainerState> {
    let state = containers.get(id);
    if (!state) {
      // The container's disk: /workspace, the runner's state dir and HOME, gone together on destroy.
      const disk = join(root, id.replace(/[^A-Za-z0-9_-]/g, "_"));
      const dir = join(disk, "workspace");
      for (const d of [dir, join(disk, "state"), join(disk, "home")]) await mkdir(d, { recursive: true });
      state = containers.get(id) ?? { dir, sessions: new Map(), processes: new Map() };
      containers.set(id, state);
    }
    return state;
  }

  async function destroy(id: string): Promise<void> {
    const state = containers.get(id);
    if (!state) return;
    containers.delete(id);
    for (const proc of state.processes.values()) killProcess(proc);
    await Promise.all([...state.processes.values()].map((p) => p.done));
    await rm(join(state.dir, ".."), { recursive: true, force: true });
  }

  function start(state: StandInContainerState, body: Json): StandInProcess {
    if (typeof body.command !== "string" || body.command.trim() === "") {
      throw new ContainerApiError(400, "INVALID_COMMAND", "Invalid command: command must be a non-empty string");
    }
    const session = state.sessions.get(String(body.sessionId)) ?? { env: {}, cwd: WORKSPACE };
    const id = typeof body.processId === "string" ? body.processId : newProcessId();
    const proc = spawnProcess({
      id,
      workspaceHostDir: state.dir,
      stateHostDir: join(state.dir, "..", "state"),
      homeHostDir: join(state.dir, "..", "home"),
      command: body.command,
      cwd: typeof body.cwd === "string" ? body.cwd : session.cwd,
      env: { ...session.env, ...(isEnv(body.env) ? body.env : {}) },
    });
    state.processes.set(id, proc);
    return proc;
  }

  function lookup(state: StandInContainerState, id: string): StandInProcess {
    const proc = state.processes.get(id);
    if (!proc) throw new ContainerApiError(404, "PROCESS_NOT_FOUND", `Process ${id} not found`);
    return proc;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://standin");
    const path = url.pathname;
    const ts = () => new Date().toISOString();
    if (path.startsWith("/__standin/git/") && req.method === "GET" && opts.gitRoot) {
      const rel = normalize(decodeURIComponent(path.slice("/__standin/git/".length)));
      if (rel.startsWith("..")) return send(res, 404, {});
      const data = await readFile(join(opts.gitRoot, rel)).catch(() => null);
      if (!data) return send(res, 404, { message: "not found" });
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(data);
      return;
    }
    const id = req.headers[CONTAINER_ID_HEADER];
    if (typeof id !== "string" || id === "") {
      // Health probes of the container runtime (any path) just need an answer.
      return send(res, 200, { success: true, message: "stand-in container", timestamp: ts() });
    }
    if (path === "/__standin/destroy") {
      await destroy(id);
      return send(res, 200, { success: true });
    }
    const state = await containerFor(id);
    const body = req.method === "POST" ? await readBody(req) : {};
    const dir = state.dir;
    switch (path) {
      case "/api/ping":
        return send(res, 200, { success: true, message: "pong", timestamp: ts() });
      case "/api/version":
        return send(res, 200, { success: true, version: SDK_VERSION, timestamp: ts() });
      case "/api/session/create": {
        const sid = typeof body.id === "string" ? body.id : `session_${Date.now()}`;
        if (state.sessions.has(sid)) {
          throw new ContainerApiError(409, "SESSION_ALREADY_EXISTS", `Session '${sid}' already exists`);
        }
        const env = isEnv(body.env) ? body.env : {};
        state.sessions.set(sid, { env, cwd: typeof body.cwd === "string" ? body.cwd : WORKSPACE });
        return send(res, 200, {
          success: true,
          id: sid,
          message: "Session created",
          containerPlacementId: null,
          timestamp: ts(),
        });
      }
      case "/api/execute": {
        const proc = start(state, body);
        const timeoutMs = typeof body.timeoutMs === "number" ? body.timeoutMs : undefined;
        const timer = timeoutMs === undefined ? undefined : setTimeout(() => killProcess(proc), timeoutMs);
        await proc.done;
        clearTimeout(timer);
        state.processes.delete(proc.id);
        if (proc.status === "killed") {
          throw new ContainerApiError(
            500,
            "COMMAND_EXECUTION_ERROR",
            `Failed to execute command '${proc.command}': Command timeout after ${timeoutMs}ms`,
          );
        }
        const exitCode = proc.exitCode ?? 1;
        return send(res, 200, {
          success: exitCode === 0,
          exitCode,
          stdout: proc.stdout,
          stderr: proc.stderr,
          command: proc.command,
          duration: 0,
          timestamp: ts(),
          sessionId: body.sessionId,
        });
      }
      case "/api/execute/stream": {
        const proc = start(state, body);
        void proc.done.then(() => state.processes.delete(proc.id));
        return streamProcess(res, proc, "exec");
      }
      case "/api/read":
        return send(res, 200, await readFileApi(dir, body as { path: string }));
      case "/api/read/stream": {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for await (const frame of readFileStreamApi(dir, body as { path: string })) {
          if (!res.write(frame)) await new Promise((resolve) => res.once("drain", resolve));
        }
        res.end();
        return;
      }
      case "/api/write":
        return send(res, 200, await writeFileApi(dir, body as { path: string; content: string }));
      case "/api/delete":
        return send(res, 200, await deleteFileApi(dir, body as { path: string }));
      case "/api/mkdir":
        return send(res, 200, await mkdirApi(dir, body as { path: string }));
      case "/api/exists":
        return send(res, 200, await existsApi(dir, body as { path: string }));
      case "/api/list-files":
        return send(res, 200, await listFilesApi(dir, body as { path: string }));
      case "/api/process/start": {
        const proc = start(state, body);
        return send(res, 200, {
          success: true,
          processId: proc.id,
          pid: proc.pid,
          command: proc.command,
          timestamp: ts(),
        });
      }
      case "/api/process/list":
        return send(res, 200, {
          success: true,
          processes: [...state.processes.values()].map((p) => processJson(p, false)),
          timestamp: ts(),
        });
      case "/api/process/kill-all": {
        let cleanedCount = 0;
        for (const proc of state.processes.values()) if (killProcess(proc)) cleanedCount++;
        return send(res, 200, { success: true, cleanedCount, timestamp: ts() });
      }
    }
    const m = /^\/api\/process\/([^/]+)(?:\/(logs|stream))?$/.exec(path);
    if (m) {
      const proc = lookup(state, decodeURIComponent(m[1] as string));
      if (!m[2] && req.method === "GET")
        return send(res, 200, { success: true, process: processJson(proc, true), timestamp: ts() });
      if (!m[2] && req.method === "DELETE") {
        killProcess(proc);
        return send(res, 200, { success: true, processId: proc.id, timestamp: ts() });
      }
      if (m[2] === "logs") {
        return send(res, 200, {
          success: true,
          processId: proc.id,
          stdout: proc.stdout,
          stderr: proc.stderr,
          timestamp: ts(),
        });
      }
      if (m[2] === "stream") return streamProcess(res, proc, "logs");
    }
    throw new ContainerApiError(404, "UNKNOWN_ERROR", `Invalid endpoint: ${req.method} ${path}`);
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.end();
      if (err instanceof ContainerApiError) return sendError(res, err);
      sendError(res, new ContainerApiError(500, "INTERNAL_ERROR", (err as Error).message ?? String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${opts.port}`,
    root,
    async stopAllBehindTheirBacks() {
      const ids = [...containers.keys()];
      await Promise.all(ids.map(destroy));
      return ids.length;
    },
    async close() {
      await Promise.all([...containers.keys()].map(destroy));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}
