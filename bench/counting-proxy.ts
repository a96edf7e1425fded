/**
 * @module bench/counting-proxy
 * A counting HTTP proxy in front of the Worker, for bench/jobs-large-project.ts: the
 * Worker's RUNNER_API_URL points here, so every request a jail's runner makes (the jail
 * host carries it to `RUNNER_API_URL/jail-egress/<host><path>`) passes through and is
 * logged with its method, path, status and body bytes each way, then forwarded
 * unchanged. Nothing in the product counts; what is counted is what crosses the
 * network between a sandbox and the Worker (bodies only: headers are not counted).
 */
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One proxied request. */
export interface ProxiedRequest {
  method: string;
  /** The path after `/jail-egress/<host>` (the runner API path), query dropped. */
  path: string;
  status: number;
  /** Body bytes sent up (request) and down (response). */
  up: number;
  down: number;
  /** A commit's answer (POST …/snapshots): the snapshot id it committed. */
  committed?: string;
}

/** A running proxy: `url` to give the Worker, `log` of what passed. */
export interface CountingProxy {
  url: string;
  /** Where requests go (the Worker's URL; settable because the Worker needs `url` to start). */
  target: string;
  log: ProxiedRequest[];
  /** Returns what was logged since the last take and starts a new log. */
  take(): ProxiedRequest[];
  stop(): Promise<void>;
}

const EGRESS = /^\/jail-egress\/[^/]+/;

/** Starts a proxy on 127.0.0.1 (an ephemeral port) forwarding to `target`. */
export async function startCountingProxy(target = ""): Promise<CountingProxy> {
  const agent = new Agent({ keepAlive: true });
  const proxy: CountingProxy = {
    url: "",
    target,
    log: [],
    take: () => proxy.log.splice(0),
    stop: async () => {
      agent.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  const server: Server = createServer((req, res) => {
    const to = new URL(req.url ?? "/", proxy.target);
    const entry: ProxiedRequest = {
      method: req.method ?? "GET",
      path: (req.url ?? "/").replace(/\?.*$/, "").replace(EGRESS, ""),
      status: 0,
      up: 0,
      down: 0,
    };
    const headers = { ...req.headers, host: to.host };
    const upstream = request(to, { method: req.method, headers, agent }, (ures) => {
      entry.status = ures.statusCode ?? 0;
      res.writeHead(entry.status, ures.headers);
      const isCommit = entry.method === "POST" && /\/snapshots$/.test(entry.path);
      const body: Buffer[] = [];
      ures.on("data", (c: Buffer) => {
        entry.down += c.length;
        if (isCommit) body.push(c);
      });
      ures.on("end", () => {
        if (isCommit) {
          try {
            const parsed = JSON.parse(Buffer.concat(body).toString("utf8")) as { data?: { snapshotId?: string } };
            if (parsed.data?.snapshotId) entry.committed = parsed.data.snapshotId;
          } catch {
            // Not JSON: an error answer; nothing was committed.
          }
        }
        proxy.log.push(entry);
      });
      ures.pipe(res);
    });
    upstream.on("error", (err) => {
      proxy.log.push(entry);
      res.writeHead(502).end(`counting proxy: ${err.message}`);
    });
    req.on("data", (c: Buffer) => {
      entry.up += c.length;
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
