/**
 * @module sandboxd/server
 * sandboxd's HTTP API: auth, routing and one handler per route, each wrapped so
 * any failure becomes a JSON error and the server keeps serving. The protocol is
 * documented in container/sandboxd/README.md; src/backend/local.ts is its client.
 * `/jails/...` starts and stops container runtimes (jails.ts) and proxies a jail's
 * container traffic, websocket upgrades included, to its unix socket.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { z } from "zod";
import type { Isolation } from "./bwrap.ts";
import { WORKSPACE } from "./bwrap.ts";
import { cloneRepo } from "./clone.ts";
import type { SandboxdConfig } from "./config.ts";
import { badRequest, notFound, SandboxdError } from "./errors.ts";
import { execBuffered, execStream } from "./exec.ts";
import { deletePath, listDir, readFileStream, writeFile } from "./files.ts";
import {
  clientGone,
  ndjsonSink,
  proxyHttp,
  proxyUpgrade,
  readBody,
  readJson,
  sendError,
  sendJson,
  sendRawError,
} from "./http.ts";
import { checkJailId, checkProcessId, checkProjectId } from "./ids.ts";
import { Jails } from "./jails.ts";
import { checkedPath } from "./paths.ts";
import { cloneBody, execBody, processBody } from "./schemas.ts";
import { launch, SHELL } from "./spawn.ts";
import { type Workspace, Workspaces } from "./workspaces.ts";

/** What a handler gets: the request, its parsed URL and the project (if the route has one). */
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  projectId: string;
  processId: string;
  /** The jail of a `/jails/:id...` route, else "". */
  jailId: string;
  /** For `/jails/:id/container/<rest>`: `/<rest>`, the path on the runtime's socket. */
  upstreamPath: string;
}

/** A route's matched parameters. */
interface Match {
  route: string;
  projectId: string;
  processId: string;
  jailId: string;
  upstreamPath: string;
}

/** POST /jails/:id/signal. */
const signalBody = z.strictObject({
  signal: z.union([z.enum(["SIGTERM", "SIGKILL", "SIGINT"]), z.number().int().min(1).max(64)]),
});

type Handler = (ctx: Ctx) => Promise<void>;

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** Bearer check in constant time (hashing first makes the lengths equal). */
function authorized(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return true;
  const header = req.headers.authorization ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : "";
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * Builds the HTTP server (not listening yet) and the workspace and jail registries
 * behind it. Closing the server (or the process exiting) kills every jail.
 */
export function createSandboxd(
  cfg: SandboxdConfig,
  iso: Isolation,
): { server: Server; workspaces: Workspaces; jails: Jails } {
  const workspaces = new Workspaces(cfg.root, cfg.processLogBytes);
  const jails = new Jails(cfg.root, iso, { bun: cfg.runtimeBun, bundle: cfg.runtimeBundle });
  const info = (projectId: string) => ({ projectId, status: "ready", isolated: iso.kind === "bwrap" });

  /** A confined cwd that is an existing directory, as a /workspace path plus its real host path. */
  async function cwdOf(ws: Workspace, cwd: string | undefined): Promise<{ cwd: string; hostCwd: string }> {
    const p = await checkedPath(ws.hostDir, cwd ?? WORKSPACE);
    const st = await stat(p.realPath).catch(() => null);
    if (!st?.isDirectory()) throw badRequest(`cwd ${p.sandboxPath} is not an existing directory`, "INVALID_CWD");
    return { cwd: p.sandboxPath, hostCwd: p.realPath };
  }

  const query = (ctx: Ctx, name: string): string | undefined => ctx.url.searchParams.get(name) ?? undefined;

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    health: {
      GET: async ({ res }) => sendJson(res, 200, { ok: true, isolated: iso.kind === "bwrap" }),
    },
    project: {
      POST: async ({ res, projectId }) => {
        const { initialized, started } = await workspaces.ensureReporting(projectId);
        sendJson(res, 200, { ...info(projectId), initialized, started });
      },
      GET: async ({ res, projectId }) => {
        await workspaces.existing(projectId);
        sendJson(res, 200, info(projectId));
      },
      DELETE: async ({ res, projectId }) => {
        await workspaces.destroy(projectId);
        sendJson(res, 200, { destroyed: true });
      },
    },
    killAll: {
      // ?keep=id,id spares those processes (the Worker's internal ones: sync, run-job).
      POST: async (ctx) => {
        const keep = (query(ctx, "keep") ?? "").split(",").filter(Boolean);
        sendJson(ctx.res, 200, { killed: await workspaces.killAllAndWait(ctx.projectId, keep) });
      },
    },
    exec: {
      POST: async ({ req, res, projectId }) => {
        const body = await readJson(req, cfg.maxJsonBytes, execBody);
        const ws = await workspaces.ensure(projectId);
        const input = { ...body, ...(await cwdOf(ws, body.cwd)), env: body.env ?? {} };
        sendJson(res, 200, await execBuffered(iso, ws, input, cfg.maxOutputBytes));
      },
    },
    execStream: {
      POST: async ({ req, res, projectId }) => {
        const body = await readJson(req, cfg.maxJsonBytes, execBody);
        const ws = await workspaces.ensure(projectId);
        const input = { ...body, ...(await cwdOf(ws, body.cwd)), env: body.env ?? {} };
        const signal = clientGone(res);
        const sink = ndjsonSink(res);
        await execStream(iso, ws, input, sink, signal);
        sink.end();
      },
    },
    files: {
      GET: async (ctx) => {
        const ws = await workspaces.ensure(ctx.projectId);
        const asked = Number(query(ctx, "maxBytes") ?? cfg.maxFileBytes);
        if (!Number.isInteger(asked) || asked < 0) throw badRequest("maxBytes must be a non-negative integer");
        const { stream, size } = await readFileStream(
          ws.hostDir,
          query(ctx, "path"),
          Math.min(asked, cfg.maxFileBytes),
        );
        ctx.res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
        stream.on("error", () => ctx.res.destroy());
        stream.pipe(ctx.res);
      },
      PUT: async (ctx) => {
        const ws = await workspaces.ensure(ctx.projectId);
        const path = query(ctx, "path");
        // Check the path before reading a possibly large body for nothing.
        await checkedPath(ws.hostDir, path);
        const bytes = await readBody(ctx.req, cfg.maxFileBytes);
        sendJson(ctx.res, 200, await writeFile(ws.hostDir, path, bytes));
      },
      DELETE: async (ctx) => {
        const ws = await workspaces.ensure(ctx.projectId);
        await deletePath(ws.hostDir, query(ctx, "path"));
        sendJson(ctx.res, 200, { deleted: true });
      },
    },
    list: {
      GET: async (ctx) => {
        const ws = await workspaces.ensure(ctx.projectId);
        const recursive = query(ctx, "recursive");
        if (recursive !== undefined && recursive !== "true" && recursive !== "false") {
          throw badRequest('recursive must be "true" or "false"');
        }
        const entries = await listDir(ws.hostDir, query(ctx, "path") ?? WORKSPACE, recursive === "true");
        sendJson(ctx.res, 200, { entries });
      },
    },
    clone: {
      POST: async ({ req, res, projectId }) => {
        const body = await readJson(req, cfg.maxJsonBytes, cloneBody);
        const ws = await workspaces.ensure(projectId);
        sendJson(res, 200, await cloneRepo(iso, ws, body, cfg.cloneSchemes));
      },
    },
    processes: {
      POST: async ({ req, res, projectId }) => {
        const body = await readJson(req, cfg.maxJsonBytes, processBody);
        const ws = await workspaces.ensure(projectId);
        const where = await cwdOf(ws, body.cwd);
        const child = launch(iso, ws, { argv: [SHELL, "-c", body.command], ...where, env: body.env ?? {} });
        sendJson(res, 200, ws.processes.add(body.command, child));
      },
      GET: async ({ res, projectId }) => {
        const ws = await workspaces.ensure(projectId);
        sendJson(res, 200, { processes: ws.processes.list() });
      },
    },
    process: {
      GET: async ({ res, projectId, processId }) => {
        sendJson(res, 200, (await workspaces.ensure(projectId)).processes.get(processId));
      },
      DELETE: async ({ res, projectId, processId }) => {
        sendJson(res, 200, await (await workspaces.ensure(projectId)).processes.kill(processId));
      },
    },
    processLogs: {
      GET: async ({ res, projectId, processId }) => {
        sendJson(res, 200, (await workspaces.ensure(projectId)).processes.logs(processId));
      },
    },
    processFollow: {
      GET: async ({ res, projectId, processId }) => {
        const ws = await workspaces.ensure(projectId);
        ws.processes.get(processId); // 404 before the stream starts.
        const sink = ndjsonSink(res);
        await new Promise<void>((resolve) => {
          let stop: () => void = () => {};
          res.once("close", () => {
            stop();
            resolve();
          });
          stop = ws.processes.follow(processId, (event) => {
            sink.write(event);
            if (event.type === "exit" || event.type === "error") {
              sink.end();
              resolve();
            }
          });
        });
      },
    },
    listJails: {
      GET: async ({ res }) => sendJson(res, 200, { jails: jails.list() }),
    },
    jail: {
      POST: async ({ res, jailId }) => sendJson(res, 200, await jails.start(jailId)),
      GET: async ({ res, jailId }) => sendJson(res, 200, await jails.status(jailId)),
      DELETE: async ({ res, jailId }) => sendJson(res, 200, { destroyed: await jails.destroy(jailId) }),
    },
    jailWait: {
      // Long-poll: answers when the runtime exits; a client that leaves takes its listener along.
      GET: async ({ res, jailId }) => {
        const exit = await jails.wait(jailId, clientGone(res));
        if (exit) sendJson(res, 200, exit);
      },
    },
    jailSignal: {
      POST: async ({ req, res, jailId }) => {
        const { signal } = await readJson(req, cfg.maxJsonBytes, signalBody);
        sendJson(res, 200, { signaled: await jails.signal(jailId, signal) });
      },
    },
    jailContainer: {
      // Any method: the runtime's own API (see ANY_METHOD below).
      "*": async ({ req, res, url, jailId, upstreamPath }) => {
        const socketPath = await jails.socketFor(jailId);
        await proxyHttp(req, res, { socketPath, path: upstreamPath + url.search });
      },
    },
  };

  /** Routes whose "*" handler takes every method. */
  const ANY_METHOD = new Set(["jailContainer"]);

  /** The `/jails/:id...` routes. */
  function matchJail(path: string): Match | null {
    const m = /^\/jails\/([^/]+)(\/.*)?$/.exec(path);
    if (!m?.[1]) return null;
    const jailId = decodeURIComponent(m[1]);
    const rest = m[2] ?? "";
    const base = { projectId: "", processId: "", jailId, upstreamPath: "" };
    const fixed: Record<string, string> = { "": "jail", "/wait": "jailWait", "/signal": "jailSignal" };
    const route = fixed[rest];
    if (route) return { ...base, route };
    if (rest === "/container" || rest.startsWith("/container/")) {
      return { ...base, route: "jailContainer", upstreamPath: rest.slice("/container".length) || "/" };
    }
    return null;
  }

  /** Route name and path parameters of a URL path, or null. */
  function match(path: string): Match | null {
    const none = { projectId: "", processId: "", jailId: "", upstreamPath: "" };
    if (path === "/health") return { ...none, route: "health" };
    if (path === "/jails") return { ...none, route: "listJails" };
    if (path.startsWith("/jails/")) return matchJail(path);
    const m = /^\/projects\/([^/]+)(\/.*)?$/.exec(path);
    if (!m?.[1]) return null;
    const projectId = decodeURIComponent(m[1]);
    const rest = m[2] ?? "";
    const fixed: Record<string, string> = {
      "": "project",
      "/kill-all": "killAll",
      "/exec": "exec",
      "/exec/stream": "execStream",
      "/files": "files",
      "/list": "list",
      "/clone": "clone",
      "/processes": "processes",
    };
    const route = fixed[rest];
    if (route) return { ...none, route, projectId };
    const p = /^\/processes\/([^/]+)(\/logs|\/follow)?$/.exec(rest);
    if (!p?.[1]) return null;
    const sub = p[2] === "/logs" ? "processLogs" : p[2] === "/follow" ? "processFollow" : "process";
    return { ...none, route: sub, projectId, processId: decodeURIComponent(p[1]) };
  }

  function checkAuth(req: IncomingMessage): void {
    if (!authorized(req, cfg.token)) throw new SandboxdError(401, "UNAUTHORIZED", "Missing or invalid bearer token");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandboxd");
    const m = match(url.pathname);
    if (!m) throw notFound(`No route ${url.pathname}`, "ROUTE_NOT_FOUND");
    if (m.route !== "health") checkAuth(req);
    const handlers = routes[m.route] ?? {};
    const handler = ANY_METHOD.has(m.route) ? handlers["*"] : handlers[req.method ?? ""];
    if (!handler) {
      const allowed = Object.keys(handlers);
      throw new SandboxdError(405, "METHOD_NOT_ALLOWED", `Use ${allowed.join(", ")}`, { allowed });
    }
    if (m.projectId) checkProjectId(m.projectId);
    if (m.processId) checkProcessId(m.processId);
    if (m.route.startsWith("jail")) checkJailId(m.jailId);
    await handler({ req, res, url, ...m });
  }

  /** An upgrade request (websocket): only a jail's container route takes one. */
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandboxd");
    const m = match(url.pathname);
    if (!m) throw notFound(`No route ${url.pathname}`, "ROUTE_NOT_FOUND");
    checkAuth(req);
    if (m.route !== "jailContainer") {
      throw badRequest(`${url.pathname} does not take an upgrade`, "UPGRADE_NOT_SUPPORTED");
    }
    checkJailId(m.jailId);
    const socketPath = await jails.socketFor(m.jailId);
    proxyUpgrade(req, socket, head, { socketPath, path: m.upstreamPath + url.search });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // decodeURIComponent of a malformed escape is a client error, not a crash.
      sendError(req, res, err instanceof URIError ? badRequest("Malformed URL encoding") : err);
    });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Errors of the raw socket (a reset) must not become uncaught exceptions.
    socket.on("error", () => socket.destroy());
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      sendRawError(req, socket, err instanceof URIError ? badRequest("Malformed URL encoding") : err);
    });
  });
  // A jail's runtime must not outlive sandboxd (under bwrap --die-with-parent sees to it
  // as well; unisolated nothing else would).
  const killJails = () => jails.killEverything();
  process.once("exit", killJails);
  server.once("close", () => {
    process.off("exit", killJails);
    killJails();
  });
  return { server, workspaces, jails };
}
