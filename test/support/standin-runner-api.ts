/**
 * @module test/support/standin-runner-api
 * A STAND-IN for the Worker's runner API (shared/snapshot-format.ts), over a
 * MemStore, on 127.0.0.1. It lets runner tests go through HttpStore and real
 * child processes without the Worker, R2 or D1. Not the Worker: only the wire
 * contract (routes, bearer token, envelope errors, Range, CAS) is reproduced.
 * `faults` injects answers (500, 429, 400…) ahead of the real handler, and
 * `onPutStart` lets a test act (e.g. SIGKILL the runner) once an upload begins.
 * Job routes (runner run-job) come from standin-job-routes.ts: `addJob` creates
 * a running job record the runner can fetch with the same token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RunnerError } from "../../container/runner/errors.ts";
import type { Job } from "../../src/shared/job-format.ts";
import { type CommitRequest, RUNNER_API_PREFIX } from "../../src/shared/snapshot-format.ts";
import { MemStore } from "./runner-mem-store.ts";
import { examplePullRequest, handleJobRoute, makeJob, type StandinJobRecord } from "./standin-job-routes.ts";

/** A scripted answer for the next matching request. */
export interface Fault {
  method?: string;
  /** Substring of the path after the project prefix, e.g. "/head" or "/packs/". */
  path?: string;
  status: number;
  code?: string;
  retryAfter?: number;
}

/** A running stand-in. */
export interface StandinRunnerApi {
  url: string;
  token: string;
  projectId: string;
  store: MemStore;
  faults: Fault[];
  /** Every request seen: "METHOD /path status". */
  log: string[];
  onPutStart: ((packId: string) => void) | null;
  /** Delay per received upload chunk in ms (slows uploads down for kill tests). */
  putChunkDelayMs: number;
  /** Job records by id (job routes). */
  jobs: Map<string, StandinJobRecord>;
  /** Adds a running job of this project (defaults: shell, `true`, attempt 1). */
  addJob(over?: Partial<Job>): StandinJobRecord;
  close(): Promise<void>;
}

const STATUS_BY_CODE: Record<string, number> = {
  HEAD_MOVED: 409,
  MISSING_PACKS: 400,
  PACK_HASH_MISMATCH: 400,
  SNAPSHOT_NOT_FOUND: 404,
  PACK_NOT_FOUND: 404,
};

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, delayMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) {
    chunks.push(c as Buffer);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  }
  return Buffer.concat(chunks);
}

/** Starts a stand-in runner API on a free loopback port. */
export async function startStandinRunnerApi(
  opts: { token?: string; projectId?: string; store?: MemStore } = {},
): Promise<StandinRunnerApi> {
  const token = opts.token ?? "standin-runner-token";
  const projectId = opts.projectId ?? "demo";
  const api: StandinRunnerApi = {
    url: "",
    token,
    projectId,
    store: opts.store ?? new MemStore(),
    faults: [],
    log: [],
    onPutStart: null,
    putChunkDelayMs: 0,
    jobs: new Map(),
    addJob: (over = {}) => {
      const rec: StandinJobRecord = {
        job: makeJob(projectId, over),
        events: [],
        heartbeats: 0,
        eventPosts: 0,
        results: [],
        leaseLost: false,
        tokenDead: false,
        gitCredential: null,
        credentialAsks: [],
        pullRequests: [],
        pullRequestAnswer: () => examplePullRequest(),
      };
      api.jobs.set(rec.job.id, rec);
      return rec;
    },
    close: async () => {},
  };
  const prefix = `${RUNNER_API_PREFIX}/${projectId}`;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://x");
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, { success: false, error: "bad token", code: "UNAUTHORIZED" });
      return 401;
    }
    const jobStatus = await handleJobRoute(api.jobs, req, res, url.pathname);
    if (jobStatus !== null) return jobStatus;
    if (!url.pathname.startsWith(prefix)) {
      send(res, 404, { success: false, error: "no route", code: "ROUTE_NOT_FOUND" });
      return 404;
    }
    const path = url.pathname.slice(prefix.length);
    const fi = api.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || path.includes(f.path)));
    if (fi >= 0) {
      const f = api.faults.splice(fi, 1)[0] as Fault;
      req.resume();
      const headers: Record<string, string> = f.retryAfter !== undefined ? { "retry-after": String(f.retryAfter) } : {};
      send(res, f.status, { success: false, error: "injected fault", code: f.code ?? "INJECTED" }, headers);
      return f.status;
    }
    const s = api.store;
    if (method === "GET" && path === "/head") {
      send(res, 200, { snapshotId: s.head });
      return 200;
    }
    const snapMatch = path.match(/^\/snapshots\/([0-9a-f]{64})$/);
    if (method === "GET" && snapMatch) {
      const text = await s.getManifestText(snapMatch[1] as string);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
      return 200;
    }
    if (method === "POST" && path === "/snapshots") {
      const body = JSON.parse((await readBody(req, 0)).toString("utf8")) as CommitRequest;
      send(res, 201, await s.commit(body.manifest));
      return 201;
    }
    const packMatch = path.match(/^\/packs\/([0-9a-f]{64})$/);
    if (packMatch) {
      const packId = packMatch[1] as string;
      if (method === "HEAD") {
        const status = s.packs.has(packId) ? 200 : 404;
        res.writeHead(status).end();
        return status;
      }
      if (method === "PUT") {
        if (!req.headers["content-length"]) {
          send(res, 411, { success: false, error: "Content-Length required", code: "LENGTH_REQUIRED" });
          return 411;
        }
        api.onPutStart?.(packId);
        const body = await readBody(req, api.putChunkDelayMs);
        if (body.length !== Number(req.headers["content-length"])) throw new Error("short body");
        s.storePack(packId, body);
        s.stats.putPacks++;
        s.stats.putBytes += body.length;
        send(res, 201, { packId, size: body.length });
        return 201;
      }
      if (method === "GET") {
        const pack = s.packs.get(packId);
        if (!pack) throw new RunnerError("PACK_NOT_FOUND", "no such pack");
        const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
        if (!r) {
          res.writeHead(200, { "content-length": pack.length }).end(pack);
          return 200;
        }
        const start = Number(r[1]);
        const end = Math.min(Number(r[2]), pack.length - 1);
        const bytes = s.range(packId, start, end - start + 1);
        res.writeHead(206, { "content-length": bytes.length, "content-range": `bytes ${start}-${end}/${pack.length}` });
        res.end(bytes);
        return 206;
      }
    }
    send(res, 404, { success: false, error: "no route", code: "ROUTE_NOT_FOUND" });
    return 404;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).then(
      (status) => api.log.push(`${req.method} ${req.url} ${status}`),
      (err: unknown) => {
        const code = err instanceof RunnerError ? err.code : "INTERNAL_ERROR";
        const status = STATUS_BY_CODE[code] ?? 500;
        api.log.push(`${req.method} ${req.url} ${status}`);
        if (!res.headersSent) send(res, status, { success: false, error: (err as Error).message, code });
        else res.destroy();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return api;
}
