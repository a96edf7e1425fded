/**
 * @module bench/standin-sandboxd
 * A STAND-IN for sandboxd, used only by bench/jobs.ts to measure leasing on its own:
 * it answers the two calls starting a job makes (src/jobs/start.ts → src/backend/local.ts:
 * `POST /projects/:id` = ensure, `POST /projects/:id/processes` = startProcess) at once,
 * with sandboxd's response shapes, and starts nothing. Numbers taken against it
 * therefore include the Worker's whole /run-next path (sweep, lease, status event,
 * token minting, both HTTP calls to "sandboxd") but exclude any real sandbox or
 * runner start. Every other route answers 404 so a wrong use shows up loudly.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A running stand-in. */
export interface StandinSandboxd {
  url: string;
  token: string;
  /** How many startProcess calls it answered (one per started job). */
  readonly starts: number;
  stop(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Drains the request body (the Worker sends the runner's command line and env; ignored). */
async function drain(req: IncomingMessage): Promise<void> {
  for await (const _chunk of req) {
    // Nothing to keep: the stand-in starts nothing.
  }
}

/** Starts the stand-in on 127.0.0.1 (a free port); `token` is what the Worker must send. */
export async function startStandinSandboxd(token: string): Promise<StandinSandboxd> {
  let starts = 0;
  let pid = 1;
  const server = createServer(async (req, res) => {
    await drain(req);
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, { error: "bad token", code: "UNAUTHORIZED" });
      return;
    }
    const m = /^\/projects\/([^/?]+)(\/processes)?$/.exec(req.url ?? "");
    const projectId = m?.[1] ? decodeURIComponent(m[1]) : "";
    if (req.method === "POST" && m && !m[2]) {
      send(res, 200, { projectId, status: "ready", isolated: false });
    } else if (req.method === "POST" && m?.[2]) {
      starts++;
      const id = pid++;
      send(res, 200, {
        id: `p${id}`,
        command: "runner run-job (not started: stand-in)",
        status: "running",
        pid: id,
        exitCode: null,
        startedAt: new Date().toISOString(),
        endedAt: null,
      });
    } else {
      send(res, 404, {
        error: `the stand-in sandboxd does not serve ${req.method} ${req.url}`,
        code: "ROUTE_NOT_FOUND",
      });
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
    get starts() {
      return starts;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
