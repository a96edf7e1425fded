/**
 * @module bench/standin-jail-host
 * A STAND-IN for sandboxd as a jail host, used only by bench/jobs.ts to measure leasing
 * on its own. The Worker's SANDBOXD_URL points here, so every project's Sandbox Durable
 * Object gets a JailContainer (src/backend/jail-container.ts) talking to this server
 * instead of a real jail. It answers, at once and with the shapes sandboxd and
 * Cloudflare's container runtime (sandbox-container 0.12.7: misc-, execute- and
 * process-handler.ts) give, exactly what starting a job on a fresh project calls
 * (src/jobs/start.ts → src/sandboxes/ready.ts → src/backend/cloudflare*.ts):
 *  - `POST /jails/:id` (the container's start), `GET /jails/:id/wait` (held open while
 *    the "jail" runs, as sandboxd holds it), `DELETE /jails/:id`, `POST /jails/:id/signal`;
 *  - through `/jails/:id/container`: `GET /` and `GET /api/ping` (the port-ready probes of
 *    @cloudflare/containers and the SDK), `GET /api/version`, `POST /api/execute` of the
 *    ensure probe only — answered "initialized=0": the workspace is already initialised,
 *    so no `runner restore --if-fresh` follows — `GET /api/process/list` (empty: nothing
 *    ever runs, so no stale runner is killed) and `POST /api/process/start` (a made-up
 *    process id and pid; nothing is spawned).
 * Numbers taken against it therefore include the Worker's whole /run-next path (lease
 * sweep, D1 lease, status event, job token, the Sandbox Durable Object's creation and its
 * container-start handshake, the ensure exec, the process listing and the runner's
 * start call, each a loopback HTTP hop) but EXCLUDE the jail's start (bubblewrap, Bun,
 * the runtime's boot), every process the runtime would spawn (the ensure probe's shell,
 * a workspace restore, the runner itself) and the runner's run. Any other call answers
 * 404 (or 501 for another command) so a change in what a job start calls shows up loudly.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A running stand-in. */
export interface StandinJailHost {
  url: string;
  token: string;
  /** How many jails were started, and how many runner starts (`/api/process/start`) were answered. */
  readonly jails: number;
  readonly starts: number;
  stop(): Promise<void>;
}

/** The ensure step's probe (src/backend/cloudflare.ts ensure): the one command the stand-in answers. */
const ENSURE_PROBE = /state\.json; echo "initialized=\$\?"$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

interface StandinJail {
  pid: number;
  startedAt: string;
  running: boolean;
  /** Open `GET /wait` long-polls, answered when the jail is destroyed. */
  waiters: Set<ServerResponse>;
}

/** Starts the stand-in on 127.0.0.1 (a free port); `token` is what the Worker must send. */
export async function startStandinJailHost(token: string): Promise<StandinJailHost> {
  const jails = new Map<string, StandinJail>();
  let started = 0;
  let starts = 0;
  let nextPid = 1000;
  const now = () => new Date().toISOString();
  const end = (jail: StandinJail) => {
    jail.running = false;
    for (const w of jail.waiters) send(w, 200, { exitCode: 0, signal: null });
    jail.waiters.clear();
  };

  /** What the runtime inside the jail would answer for `rest` (its own path). */
  const runtime = (res: ServerResponse, method: string, rest: string, body: string): void => {
    if (method === "GET" && rest === "/") {
      const text = "Hello from Bun server! 🚀";
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
      res.end(text);
    } else if (method === "GET" && (rest === "/api/ping" || rest === "/api/health")) {
      send(res, 200, { success: true, status: "healthy", timestamp: now() });
    } else if (method === "GET" && rest === "/api/version") {
      // What the vendored runtime answers (it is built without a version): the SDK's check then stays quiet.
      send(res, 200, { success: true, version: "unknown", timestamp: now() });
    } else if (method === "POST" && rest === "/api/execute") {
      const req = JSON.parse(body) as { command?: string; sessionId?: string };
      const command = req.command ?? "";
      if (!ENSURE_PROBE.test(command)) {
        send(res, 501, {
          code: "STANDIN",
          message: `the stand-in jail host runs no command: ${command.slice(0, 120)}`,
        });
        return;
      }
      send(res, 200, {
        success: true,
        exitCode: 0,
        stdout: "initialized=0\n",
        stderr: "",
        command,
        duration: 0,
        timestamp: now(),
        sessionId: req.sessionId,
      });
    } else if (method === "GET" && rest.startsWith("/api/process/list")) {
      send(res, 200, { success: true, processes: [], timestamp: now() });
    } else if (method === "POST" && rest === "/api/process/start") {
      starts++;
      const pid = nextPid++;
      const command = (JSON.parse(body) as { command?: string }).command ?? "";
      send(res, 200, { success: true, processId: `proc_standin_${pid}`, pid, command, timestamp: now() });
    } else {
      send(res, 404, { code: "STANDIN", message: `the stand-in jail host does not serve ${method} ${rest}` });
    }
  };

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, { error: "bad token", code: "UNAUTHORIZED" });
      return;
    }
    const method = req.method ?? "GET";
    const m = /^\/jails\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(req.url ?? "");
    const id = m?.[1] ? decodeURIComponent(m[1]) : "";
    const sub = m?.[2] ?? "";
    const jail = jails.get(id);
    if (!m) {
      send(res, 404, { error: `the stand-in jail host does not serve ${method} ${req.url}`, code: "ROUTE_NOT_FOUND" });
    } else if (sub === "" && method === "POST") {
      const restarted = jail !== undefined;
      const j: StandinJail = jail?.running
        ? jail
        : { pid: nextPid++, startedAt: now(), running: true, waiters: new Set() };
      if (!jail?.running) started++;
      jails.set(id, j);
      send(res, 200, { id, running: true, pid: j.pid, startedAt: j.startedAt, restarted });
    } else if (sub === "" && method === "GET") {
      send(res, jail ? 200 : 404, { id, running: jail?.running ?? false, pid: jail?.pid ?? null });
    } else if (sub === "" && method === "DELETE") {
      if (jail) end(jail);
      jails.delete(id);
      send(res, 200, { destroyed: jail !== undefined });
    } else if (sub === "/wait" && method === "GET") {
      if (!jail?.running) send(res, 200, { exitCode: 0, signal: null });
      else {
        jail.waiters.add(res);
        res.on("close", () => jail.waiters.delete(res));
      }
    } else if (sub === "/signal" && method === "POST") {
      send(res, 200, { signaled: jail?.running ?? false });
    } else if (sub.startsWith("/container/") || sub === "/container") {
      if (!jail?.running) send(res, 503, { error: `jail ${id} is not running`, code: "JAIL_NOT_RUNNING" });
      else runtime(res, method, sub.slice("/container".length) || "/", body);
    } else {
      send(res, 404, { error: `the stand-in jail host does not serve ${method} ${req.url}`, code: "ROUTE_NOT_FOUND" });
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    get jails() {
      return started;
    },
    get starts() {
      return starts;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const j of jails.values()) end(j);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
