/**
 * @module sandboxd/jail-egress
 * A jail's ways out of its network namespace, besides the internet (jail-network.ts):
 * unix sockets in its egress directory, bound read-only at /run/sandbox-egress, each the
 * far end of a port its forwarder (jail-forwarder.ts) listens on at 127.0.0.1 inside.
 * - Port 80: HTTP for the hosts the Worker answers (shared/egress.ts; the jail's
 *   /etc/hosts names them 127.0.0.1), carried to the Worker's jail egress route with
 *   sandboxd's token: the local counterpart of Cloudflare's outbound interception. A
 *   request for any other host is refused.
 * - Each allowed host port (SANDBOXD_HOST_PORTS): a TCP pipe to 127.0.0.1:<port> of the
 *   host, for local development (a git or model server on loopback).
 * Only the jail's user may connect (0600 sockets of its uid).
 */
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { JAIL_EGRESS_PREFIX, RUNNER_INTERNAL_HOST, SANDBOXD_TOKEN_HEADER } from "../../src/shared/egress.ts";
import { MODELS_INTERNAL_HOST } from "../../src/shared/model-egress.ts";
import type { JailUser } from "./bwrap.ts";
import { SandboxdError, unavailable } from "./errors.ts";
import { proxyHttp, sendError, spliceSockets } from "./http.ts";

/** The port the Worker's hosts are reached on inside a jail (their origins have none). */
export const EGRESS_HTTP_PORT = 80;
/** The hosts carried to the Worker. */
export const WORKER_HOSTS: readonly string[] = [RUNNER_INTERNAL_HOST, MODELS_INTERNAL_HOST];

/** The lines of a jail's /etc/hosts: its own names, and the Worker's hosts on its loopback. */
export function jailHostsFile(): string {
  return [
    "127.0.0.1 localhost",
    "::1 localhost ip6-localhost ip6-loopback",
    "127.0.1.1 sandbox",
    `127.0.0.1 ${WORKER_HOSTS.join(" ")}`,
    "",
  ].join("\n");
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** sandboxd's token (the Worker checks it), the host ports let through, the jail's user. */
export interface EgressOptions {
  token: string | null;
  hostPorts: readonly number[];
  owner: JailUser | null;
}

/** One jail's egress servers. */
export class JailEgress {
  /** The Worker's address (RUNNER_API_URL), as the Sandbox said when it started the jail. */
  workerUrl: URL | null = null;
  readonly dir: string;
  private readonly opts: EgressOptions;
  private readonly servers: Server[] = [];

  constructor(dir: string, opts: EgressOptions) {
    this.dir = dir;
    this.opts = opts;
  }

  /** The ports the jail's forwarder listens on. */
  get ports(): number[] {
    return [EGRESS_HTTP_PORT, ...this.opts.hostPorts];
  }

  /** Creates the directory and serves every port's socket (stale sockets of an earlier run replaced). */
  async open(): Promise<void> {
    await this.close();
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const http = createHttpServer((req, res) => {
      this.toWorker(req, res).catch((err: unknown) => sendError(req, res, err));
    });
    const pairs: Array<[Server, number]> = [[http, EGRESS_HTTP_PORT]];
    for (const port of this.opts.hostPorts) {
      pairs.push([createServer((inside) => spliceSockets(inside, connect(port, "127.0.0.1"))), port]);
    }
    for (const [server, port] of pairs) {
      const path = join(this.dir, `${port}.sock`);
      if (Buffer.byteLength(path) > 107) {
        throw new SandboxdError("ROOT_TOO_DEEP", `SANDBOXD_ROOT is too deep for a unix socket path: ${path}`);
      }
      await listen(server, path);
      this.servers.push(server);
      await chmod(path, 0o600);
      if (this.opts.owner) await chown(path, this.opts.owner.uid, this.opts.owner.gid);
    }
  }

  async close(): Promise<void> {
    const servers = this.servers.splice(0);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      ),
    );
  }

  /** One HTTP request from the jail: for a Worker host, to the Worker's jail egress route. */
  private async toWorker(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
    if (!WORKER_HOSTS.includes(host)) {
      throw new SandboxdError("EGRESS_HOST_REFUSED", `A jail reaches only ${WORKER_HOSTS.join(" and ")} here`);
    }
    const worker = this.workerUrl;
    if (!worker) {
      throw unavailable(
        "The jail host does not know the Worker's address: set RUNNER_API_URL (npm run dev does)",
        "EGRESS_UNAVAILABLE",
      );
    }
    // Origin-form or (a client using it as a proxy) absolute-form: only the path and query go on.
    const target = new URL(req.url ?? "/", `http://${host}`);
    const base = worker.pathname.replace(/\/+$/, "");
    await proxyHttp(req, res, {
      host: worker.hostname,
      port: Number(worker.port || 80),
      path: `${base}${JAIL_EGRESS_PREFIX}/${host}${target.pathname}${target.search}`,
      // The runner's own Authorization goes on; the Worker knows the jail host by its token.
      drop: [SANDBOXD_TOKEN_HEADER],
      set: { host: worker.host, [SANDBOXD_TOKEN_HEADER]: this.opts.token ?? "" },
      name: "The Worker",
    });
  }
}
